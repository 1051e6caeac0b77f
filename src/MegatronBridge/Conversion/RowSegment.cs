using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>Rows [Start, Start+Length) of an HF source (dimension 0 of its logical view).</summary>
public readonly record struct RowSegment(HfRef Source, long Start, long Length);

/// <summary>Helpers for the mappings that only rearrange rows (dimension 0).</summary>
public static class RowLayout
{
    /// <summary>Links for shards each assembled from a list of row segments, in order, along dimension 0.</summary>
    public static IReadOnlyList<ViewLink> ShardsFromRows(IReadOnlyList<IReadOnlyList<RowSegment>> perRank, TensorShape shardShape, string param)
    {
        var links = new List<ViewLink>();
        var whole = StridedView.Contiguous(shardShape);
        for (int rank = 0; rank < perRank.Count; rank++)
        {
            long at = 0;
            foreach (var seg in perRank[rank])
            {
                if (seg.Length == 0) continue;
                links.Add(new ViewLink(seg.Source.Name, seg.Source.RowRange(seg.Start, seg.Length), rank, whole.Narrow(0, at, seg.Length)));
                at += seg.Length;
            }
            if (at != shardShape[0])
                throw new InvalidDataException($"{param}: TP shard {rank} is assembled from {at} rows, its shape {shardShape} needs {shardShape[0]}");
        }
        return links;
    }

    /// <summary>Cuts a global row order into <paramref name="tp"/> equal contiguous chunks (a column-parallel split of the fused tensor).</summary>
    public static IReadOnlyList<IReadOnlyList<RowSegment>> SplitContiguous(IReadOnlyList<RowSegment> global, int tp, long rowsPerShard)
    {
        var result = new List<IReadOnlyList<RowSegment>>();
        var current = new List<RowSegment>();
        long room = rowsPerShard;
        foreach (var seg in global)
        {
            long start = seg.Start, left = seg.Length;
            while (left > 0)
            {
                long take = Math.Min(left, room);
                current.Add(seg with { Start = start, Length = take });
                start += take;
                left -= take;
                room -= take;
                if (room == 0)
                {
                    result.Add(current);
                    current = new List<RowSegment>();
                    room = rowsPerShard;
                }
            }
        }
        if (current.Count > 0) result.Add(current);
        return result;
    }
}
