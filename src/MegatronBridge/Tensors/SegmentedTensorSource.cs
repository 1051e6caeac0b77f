using MegatronBridge.IO;

namespace MegatronBridge.Tensors;

/// <summary>A contiguous byte range of a tensor in an underlying source.</summary>
internal sealed record ByteSegment(string Source, long Start, long Length);

/// <summary>
/// Presents tensors that are concatenations of byte ranges of another source's tensors, e.g. a Megatron in-memory
/// parameter assembled from the sub-keys and chunks a torch_dist checkpoint stores it as. Reads map straight onto
/// the underlying ranges, so nothing is copied ahead of time.
/// </summary>
internal sealed class SegmentedTensorSource : ITensorSource
{
    private readonly ITensorSource _inner;
    private readonly Dictionary<string, (TensorMeta Meta, ByteSegment[] Segments, long[] Starts)> _tensors = new(StringComparer.Ordinal);
    private readonly List<TensorMeta> _order = new();

    public SegmentedTensorSource(ITensorSource inner, string? description = null)
    {
        _inner = inner;
        Description = description ?? inner.Description;
    }

    public string Description { get; }
    public IReadOnlyList<TensorMeta> Tensors => _order;

    public void Add(TensorMeta meta, IReadOnlyList<ByteSegment> segments)
    {
        long total = 0;
        var starts = new long[segments.Count];
        for (int i = 0; i < segments.Count; i++)
        {
            var s = segments[i];
            var inner = _inner.Get(s.Source);
            if (s.Start < 0 || s.Length < 0 || s.Start + s.Length > inner.ByteLength)
                throw new InvalidInputException($"{Description}: {meta.Name} needs bytes [{s.Start}, {s.Start + s.Length}) of '{s.Source}', which has {inner.ByteLength}");
            starts[i] = total;
            total += s.Length;
        }
        if (total != meta.ByteLength)
            throw new InvalidInputException($"{Description}: {meta.Name} is {meta.DType.SafetensorsName()} {meta.Shape} ({meta.ByteLength} bytes) but its parts hold {total} bytes");
        if (!_tensors.TryAdd(meta.Name, (meta, segments.ToArray(), starts)))
            throw new ArgumentException($"duplicate tensor '{meta.Name}'");
        _order.Add(meta);
    }

    public bool TryGet(string name, out TensorMeta meta)
    {
        if (_tensors.TryGetValue(name, out var t))
        {
            meta = t.Meta;
            return true;
        }
        meta = null!;
        return false;
    }

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        if (!_tensors.TryGetValue(name, out var t)) throw new InvalidInputException($"{Description}: no tensor named '{name}'");
        if (byteOffset < 0 || byteOffset + destination.Length > t.Meta.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{name}: read outside the tensor");
        int i = Array.BinarySearch(t.Starts, byteOffset);
        if (i < 0) i = ~i - 1;
        while (destination.Length > 0)
        {
            var seg = t.Segments[i];
            long within = byteOffset - t.Starts[i];
            int n = (int)Math.Min(destination.Length, seg.Length - within);
            if (n > 0)
            {
                _inner.Read(seg.Source, seg.Start + within, destination[..n]);
                destination = destination[n..];
                byteOffset += n;
            }
            i++;
        }
    }
}
