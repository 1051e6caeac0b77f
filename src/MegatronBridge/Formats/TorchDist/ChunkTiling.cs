namespace MegatronBridge.Formats.TorchDist;

/// <summary>Checks that chunks tile a global shape exactly: inside bounds, no overlap, nothing missing.</summary>
internal static class ChunkTiling
{
    /// <summary>Null when the chunks tile the shape, else what is wrong.</summary>
    public static string? Problem(long[] shape, IReadOnlyList<(long[] Offsets, long[] Sizes)> chunks)
    {
        long total = 1;
        foreach (var d in shape) total = checked(total * d);
        if (chunks.Count == 0) return total == 0 ? null : "no chunks";
        long covered = 0;
        for (int i = 0; i < chunks.Count; i++)
        {
            var (offsets, sizes) = chunks[i];
            if (offsets.Length != shape.Length || sizes.Length != shape.Length)
                return $"chunk {i} has rank {offsets.Length}/{sizes.Length}, the tensor {shape.Length}";
            long n = 1;
            for (int d = 0; d < shape.Length; d++)
            {
                if (offsets[d] < 0 || sizes[d] < 0 || offsets[d] + sizes[d] > shape[d])
                    return $"chunk {i} (offsets {string.Join(", ", offsets)}, sizes {string.Join(", ", sizes)}) exceeds the global shape ({string.Join(", ", shape)}) on axis {d}";
                n = checked(n * sizes[d]);
            }
            covered += n;
            for (int j = 0; j < i; j++)
            {
                if (Overlap(chunks[j], chunks[i])) return $"chunks {j} and {i} overlap";
            }
        }
        return covered == total ? null : $"chunks cover {covered} of {total} elements";
    }

    private static bool Overlap((long[] Offsets, long[] Sizes) a, (long[] Offsets, long[] Sizes) b)
    {
        for (int d = 0; d < a.Offsets.Length; d++)
        {
            if (a.Sizes[d] == 0 || b.Sizes[d] == 0) return false;
            if (a.Offsets[d] + a.Sizes[d] <= b.Offsets[d] || b.Offsets[d] + b.Sizes[d] <= a.Offsets[d]) return false;
        }
        return true;
    }
}
