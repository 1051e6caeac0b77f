namespace MegatronBridge.Benchmarks;

/// <summary>
/// How one phase's time and memory grow from a run with fewer layers to one with more. A conversion that streams
/// takes time proportional to the bytes it moves; embeddings, lm_head and the vision tower are a fixed part, so the
/// time ratio is compared with the bytes ratio (<see cref="TimePerByteChange"/> near 0), and the extra time per
/// layer projects the full model.
/// </summary>
internal sealed record BenchScalingRow(
    string Preset, string Phase, int FromLayers, int ToLayers, double BytesRatio, double TimeRatio,
    long FromPeakAnonBytes, long ToPeakAnonBytes, double SecondsPerLayer, double ProjectedFullModelSeconds, int FullModelLayers)
{
    /// <summary>Relative change of seconds per byte between the two runs (0 = perfectly linear in bytes).</summary>
    public double TimePerByteChange => TimeRatio / BytesRatio - 1;
}

internal static class BenchScaling
{
    /// <summary>Rows for the phases that succeeded in both runs of the same preset, in the first run's order.</summary>
    public static IReadOnlyList<BenchScalingRow> Compare(BenchResult smaller, BenchResult larger)
    {
        if (smaller.Preset != larger.Preset || smaller.Mtp != larger.Mtp)
            throw new ArgumentException("scaling compares two runs of the same preset and MTP setting");
        if (larger.Layers <= smaller.Layers)
            throw new ArgumentException($"scaling needs more layers in the second run ({smaller.Layers} -> {larger.Layers})");
        var rows = new List<BenchScalingRow>();
        foreach (var a in smaller.Phases.Where(p => p.Succeeded))
        {
            var b = larger.Phases.FirstOrDefault(p => p.Name == a.Name && p.Succeeded);
            if (b is null || a.Bytes <= 0 || a.Seconds <= 0) continue;
            double perLayer = (b.Seconds - a.Seconds) / (larger.Layers - smaller.Layers);
            int full = Math.Max(larger.FullModelLayers, larger.Layers);
            rows.Add(new BenchScalingRow(smaller.Preset, a.Name, smaller.Layers, larger.Layers,
                (double)b.Bytes / a.Bytes, b.Seconds / a.Seconds, a.PeakAnonBytes, b.PeakAnonBytes,
                perLayer, a.Seconds + (full - smaller.Layers) * perLayer, full));
        }
        return rows;
    }

    /// <summary>Each run against the next larger run of the same preset and MTP setting.</summary>
    public static IReadOnlyList<BenchScalingRow> Series(IEnumerable<BenchResult> results) =>
        results.GroupBy(r => (r.Preset, r.Mtp))
            .SelectMany(g =>
            {
                var ordered = g.OrderBy(r => r.Layers).ToList();
                return ordered.Zip(ordered.Skip(1)).Where(p => p.Second.Layers > p.First.Layers).SelectMany(p => Compare(p.First, p.Second));
            })
            .ToList();
}
