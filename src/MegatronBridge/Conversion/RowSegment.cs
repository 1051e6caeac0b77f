using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>Rows [Start, Start+Length) of an HF source (dimension 0 of its logical view).</summary>
internal readonly record struct RowSegment(HfRef Source, long Start, long Length);

/// <summary>Helpers for the mappings that only rearrange rows (dimension 0).</summary>
internal static class RowLayout
{
    /// <summary>Links for shards each assembled from a list of row segments, in order, along dimension 0.</summary>
    public static IReadOnlyList<ViewLink> ShardsFromRows(IReadOnlyList<IReadOnlyList<RowSegment>> perRank, TensorShape shardShape, string param)
    {
        var links = new List<ViewLink>();
        var whole = StridedView.Contiguous(shardShape);
        for (int rank = 0; rank < perRank.Count; rank++)
        {
            long at = 0;
            ViewLink? pending = null;
            foreach (var seg in perRank[rank])
            {
                if (seg.Length == 0) continue;
                var hf = seg.Source.RowRange(seg.Start, seg.Length);
                // Rows that continue the previous segment in both tensors become one piece (fewer, longer copies).
                if (pending is not null && pending.HfName == seg.Source.Name && Continues(pending.HfView, hf))
                {
                    pending = pending with { HfView = Extend(pending.HfView, hf.Shape[0]), MegatronView = whole.Narrow(0, at - pending.MegatronView.Shape[0], pending.MegatronView.Shape[0] + seg.Length) };
                }
                else
                {
                    if (pending is not null) links.Add(pending);
                    pending = new ViewLink(seg.Source.Name, hf, rank, whole.Narrow(0, at, seg.Length));
                }
                at += seg.Length;
            }
            if (pending is not null) links.Add(pending);
            if (at != shardShape[0])
                throw new InvalidInputException($"{param}: TP shard {rank} is assembled from {at} rows, its shape {shardShape} needs {shardShape[0]}");
        }
        return links;
    }

    private static bool Continues(StridedView first, StridedView next) =>
        first.Rank == next.Rank && first.Rank > 0
        && first.Strides.AsSpan().SequenceEqual(next.Strides)
        && first.Shape.AsSpan(1).SequenceEqual(next.Shape.AsSpan(1))
        && next.Offset == first.Offset + first.Shape[0] * first.Strides[0];

    private static StridedView Extend(StridedView view, long moreRows)
    {
        var shape = (long[])view.Shape.Clone();
        shape[0] += moreRows;
        return new StridedView(view.Offset, shape, (long[])view.Strides.Clone());
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
