
namespace MegatronBridge.Tensors;

/// <summary>
/// A source that counts NaN / Inf values in the bytes a conversion reads through it, so the warning costs no second
/// pass over the checkpoint. Each byte is counted once however often it is read (a column-split tensor is read
/// once per tensor-parallel rank, a replicated one once per expert rank); bytes never read are not counted.
/// Thread-safe: conversions read several blocks at once.
/// </summary>
internal sealed class NonFiniteTracker(ITensorSource inner) : ITensorSource
{
    private sealed class Coverage
    {
        /// <summary>Disjoint, sorted, merged byte ranges already counted.</summary>
        public readonly List<(long Start, long End)> Counted = new();
        public readonly long[] Counts = new long[3];
    }

    private readonly Dictionary<string, Coverage> _coverage = new(StringComparer.Ordinal);

    public string Description => inner.Description;
    public IReadOnlyList<TensorMeta> Tensors => inner.Tensors;
    public bool TryGet(string name, out TensorMeta meta) => inner.TryGet(name, out meta);

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        inner.Read(name, byteOffset, destination);
        if (!inner.TryGet(name, out var meta) || !NonFiniteScan.IsScanned(meta.DType) || destination.IsEmpty) return;
        Coverage coverage;
        lock (_coverage)
        {
            if (!_coverage.TryGetValue(name, out coverage!)) _coverage[name] = coverage = new Coverage();
        }
        // Counting under the tensor's lock keeps ranges and counts consistent; other tensors are not held up.
        lock (coverage)
        {
            int size = meta.DType.Size();
            foreach (var (start, end) in Uncounted(coverage.Counted, byteOffset, byteOffset + destination.Length))
            {
                // Whole elements only (conversions read element-aligned ranges).
                long first = (start + size - 1) / size * size, last = end / size * size;
                if (last <= first) continue;
                NonFiniteScan.CountSpan(meta.DType, destination[(int)(first - byteOffset)..(int)(last - byteOffset)], coverage.Counts);
                Add(coverage.Counted, first, last);
            }
        }
    }

    /// <summary>Tensors read so far that hold NaN or Inf, in the source's tensor order.</summary>
    public IReadOnlyList<NonFiniteCount> Found()
    {
        lock (_coverage)
        {
            var found = new List<NonFiniteCount>();
            foreach (var meta in inner.Tensors)
            {
                if (!_coverage.TryGetValue(meta.Name, out var c)) continue;
                lock (c)
                {
                    if (c.Counts[0] + c.Counts[1] + c.Counts[2] > 0) found.Add(new NonFiniteCount(meta.Name, c.Counts[0], c.Counts[1], c.Counts[2]));
                }
            }
            return found;
        }
    }

    /// <summary>The parts of [start, end) not covered by the sorted ranges.</summary>
    internal static List<(long Start, long End)> Uncounted(List<(long Start, long End)> counted, long start, long end)
    {
        var gaps = new List<(long, long)>();
        long cursor = start;
        foreach (var (s, e) in counted)
        {
            if (e <= cursor) continue;
            if (s >= end) break;
            if (s > cursor) gaps.Add((cursor, s));
            cursor = Math.Max(cursor, e);
            if (cursor >= end) break;
        }
        if (cursor < end) gaps.Add((cursor, end));
        return gaps;
    }

    /// <summary>Inserts [start, end) and merges it with touching ranges.</summary>
    internal static void Add(List<(long Start, long End)> counted, long start, long end)
    {
        int i = 0;
        while (i < counted.Count && counted[i].End < start) i++;
        while (i < counted.Count && counted[i].Start <= end)
        {
            start = Math.Min(start, counted[i].Start);
            end = Math.Max(end, counted[i].End);
            counted.RemoveAt(i);
        }
        counted.Insert(i, (start, end));
    }
}
