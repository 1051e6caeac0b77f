using System.Buffers;
using MegatronBridge.IO;

namespace MegatronBridge.Tensors;

/// <summary>
/// Runs a <see cref="TensorRecipe"/>: reads the source bytes each piece needs in blocks of at most
/// <see cref="BufferBytes"/>, rearranges (and, where asked, converts) them in memory, and writes them to the sink.
/// Memory stays bounded by two buffers whatever the tensor size: pieces larger than the budget are split.
/// </summary>
internal sealed class RecipeExecutor
{
    public RecipeExecutor(int bufferBytes = 32 << 20)
    {
        if (bufferBytes < 4096) throw new ArgumentOutOfRangeException(nameof(bufferBytes));
        BufferBytes = bufferBytes;
    }

    public int BufferBytes { get; }

    /// <summary>Executes the recipe and returns the output bytes (for small tensors and tests).</summary>
    public byte[] ExecuteToMemory(TensorRecipe recipe, ITensorSource source)
    {
        var sink = new MemoryTensorSink(recipe.Output.ByteLength);
        Execute(recipe, source, sink);
        return sink.Buffer;
    }

    public void Execute(TensorRecipe recipe, ITensorSource source, ITensorSink sink)
    {
        long covered = 0;
        var leaves = new List<LeafJob>();
        foreach (var piece in recipe.Pieces)
        {
            var srcMeta = source.Get(piece.Source);
            var plan = Normalize(recipe, piece, srcMeta);
            covered += plan.Count;
            var job = new PieceJob(source, sink, piece.Source, srcMeta.DType, recipe.Output.DType, recipe.Op);
            Split(job, plan.Shape, plan.SrcStrides, plan.DstStrides, plan.SrcOffset, plan.DstOffset, leaves);
        }
        if (covered != recipe.Output.NumElements)
            throw new InvalidOperationException($"{recipe.Output.Name}: pieces cover {covered} elements, the output has {recipe.Output.NumElements}");
        RunPipelined(leaves);
    }

    /// <summary>
    /// Reads the next block on the thread pool while the current one is rearranged and written, so the disk is
    /// never idle waiting for the write; at most two source buffers are alive at a time.
    /// </summary>
    private static void RunPipelined(List<LeafJob> leaves)
    {
        if (leaves.Count == 0) return;
        if (leaves.Count == 1)
        {
            var only = leaves[0];
            var buffer = ReadLeaf(only);
            try { Transform(only, buffer); }
            finally { ArrayPool<byte>.Shared.Return(buffer); }
            return;
        }
        Task<byte[]>? pending = Task.Run(() => ReadLeaf(leaves[0]));
        try
        {
            for (int i = 0; i < leaves.Count; i++)
            {
                byte[] current = pending!.GetAwaiter().GetResult();
                pending = null;
                try
                {
                    if (i + 1 < leaves.Count)
                    {
                        var next = leaves[i + 1];
                        pending = Task.Run(() => ReadLeaf(next));
                    }
                    Transform(leaves[i], current);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(current);
                }
            }
        }
        finally
        {
            // A failed write must not leave a read running into a buffer nobody returns.
            if (pending != null)
            {
                try { ArrayPool<byte>.Shared.Return(pending.GetAwaiter().GetResult()); }
                catch (Exception) { /* the first error is the one that propagates */ }
            }
        }
    }

    private readonly record struct PieceJob(ITensorSource Source, ITensorSink Sink, string SourceName, DType SrcType, DType DstType, ElementOp Op)
    {
        public bool Converts => SrcType != DstType || Op != ElementOp.None;
    }

    private sealed record LeafJob(PieceJob Job, long[] Shape, long[] SrcStrides, long[] DstStrides, long SrcOffset, long DstOffset, long SrcMin, long SpanBytes);

    private readonly record struct Plan(long[] Shape, long[] SrcStrides, long[] DstStrides, long SrcOffset, long DstOffset, long Count);

    private static Plan Normalize(TensorRecipe recipe, TensorPiece piece, TensorMeta srcMeta)
    {
        var from = piece.From;
        var to = piece.To;
        string where = $"{recipe.Output.Name} <- {piece.Source}";
        if (from.NumElements != to.NumElements)
            throw new InvalidOperationException($"{where}: piece copies {from.NumElements} elements into a window of {to.NumElements}");
        CheckBounds(from, srcMeta.NumElements, where + " (source window)");
        CheckBounds(to, recipe.Output.NumElements, where + " (output window)");
        if (srcMeta.DType != recipe.Output.DType || recipe.Op != ElementOp.None)
        {
            if (!srcMeta.DType.IsFloating() || !recipe.Output.DType.IsFloating()
                || srcMeta.DType is DType.F8E4M3 or DType.F8E5M2 || recipe.Output.DType is DType.F8E4M3 or DType.F8E5M2)
                throw new InvalidInputException($"{where}: cannot convert {srcMeta.DType} to {recipe.Output.DType}");
        }

        var fs = new List<(long Size, long Stride)>();
        for (int i = 0; i < from.Rank; i++) if (from.Shape[i] != 1) fs.Add((from.Shape[i], from.Strides[i]));
        var ts = new List<(long Size, long Stride)>();
        for (int i = 0; i < to.Rank; i++) if (to.Shape[i] != 1) ts.Add((to.Shape[i], to.Strides[i]));
        if (fs.Count != ts.Count || fs.Zip(ts).Any(p => p.First.Size != p.Second.Size))
            throw new InvalidOperationException($"{where}: source window [{string.Join(", ", from.Shape)}] and output window [{string.Join(", ", to.Shape)}] differ in shape");

        // Merge neighbouring dimensions that are contiguous on both sides: fewer, longer runs.
        var shape = new List<long>();
        var ss = new List<long>();
        var ds = new List<long>();
        for (int i = 0; i < fs.Count; i++)
        {
            int last = shape.Count - 1;
            if (last >= 0 && ss[last] == fs[i].Size * fs[i].Stride && ds[last] == ts[i].Size * ts[i].Stride)
            {
                shape[last] *= fs[i].Size;
                ss[last] = fs[i].Stride;
                ds[last] = ts[i].Stride;
            }
            else
            {
                shape.Add(fs[i].Size);
                ss.Add(fs[i].Stride);
                ds.Add(ts[i].Stride);
            }
        }
        if (shape.Count == 0)
        {
            shape.Add(1);
            ss.Add(1);
            ds.Add(1);
        }
        return new Plan(shape.ToArray(), ss.ToArray(), ds.ToArray(), from.Offset, to.Offset, from.NumElements);
    }

    private static void CheckBounds(StridedView view, long numElements, string where)
    {
        if (view.NumElements == 0) return;
        long min = view.Offset, max = view.Offset;
        for (int i = 0; i < view.Rank; i++)
        {
            long extent = (view.Shape[i] - 1) * view.Strides[i];
            if (extent < 0) min += extent; else max += extent;
        }
        if (min < 0 || max >= numElements)
            throw new InvalidOperationException($"{where}: {view} reaches outside a tensor of {numElements} elements");
    }

    private static (long Min, long Max) Span(long[] shape, long[] strides, long offset)
    {
        long min = offset, max = offset;
        for (int i = 0; i < shape.Length; i++)
        {
            long extent = (shape[i] - 1) * strides[i];
            if (extent < 0) min += extent; else max += extent;
        }
        return (min, max);
    }

    private void Split(in PieceJob job, long[] shape, long[] ss, long[] ds, long so, long dOff, List<LeafJob> leaves)
    {
        int srcSize = job.SrcType.Size();
        var (min, max) = Span(shape, ss, so);
        long spanBytes = (max - min + 1) * srcSize;
        if (spanBytes > BufferBytes)
        {
            int dim = Array.FindIndex(shape, s => s > 1);
            if (dim >= 0)
            {
                // Split the first non-trivial dimension so that each part's source span fits the buffer.
                long parts = Math.Min(shape[dim], (spanBytes + BufferBytes - 1) / BufferBytes);
                long per = (shape[dim] + parts - 1) / parts;
                for (long start = 0; start < shape[dim]; start += per)
                {
                    long len = Math.Min(per, shape[dim] - start);
                    var sub = (long[])shape.Clone();
                    sub[dim] = len;
                    Split(job, sub, ss, ds, so + start * ss[dim], dOff + start * ds[dim], leaves);
                }
                return;
            }
        }
        leaves.Add(new LeafJob(job, shape, ss, ds, so, dOff, min, spanBytes));
    }

    private static byte[] ReadLeaf(LeafJob leaf)
    {
        var buffer = ArrayPool<byte>.Shared.Rent((int)leaf.SpanBytes);
        try
        {
            leaf.Job.Source.Read(leaf.Job.SourceName, leaf.SrcMin * leaf.Job.SrcType.Size(), buffer.AsSpan(0, (int)leaf.SpanBytes));
            return buffer;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static void Transform(LeafJob leaf, byte[] srcBuf) =>
        Leaf(leaf.Job, leaf.Shape, leaf.SrcStrides, leaf.DstStrides, leaf.SrcOffset, leaf.DstOffset, leaf.SrcMin, srcBuf.AsSpan(0, (int)leaf.SpanBytes));

    private static void Leaf(in PieceJob job, long[] shape, long[] ss, long[] ds, long so, long dOff, long srcMin, Span<byte> span)
    {
        int srcSize = job.SrcType.Size();
        int dstSize = job.DstType.Size();
        int rank = shape.Length;
        long total = 1;
        foreach (var s in shape) total *= s;

        {
            bool srcContiguous = rank == 1 && ss[0] == 1;
            bool dstContiguous = rank == 1 && ds[0] == 1;
            if (srcContiguous && dstContiguous && !job.Converts)
            {
                job.Sink.Write(dOff * dstSize, span);
                return;
            }

            // Innermost run: contiguous on both sides, or single elements.
            long run = ss[rank - 1] == 1 && ds[rank - 1] == 1 ? shape[rank - 1] : 1;
            int outerRank = run == 1 ? rank : rank - 1;
            long runs = total / run;
            float[]? scratch = job.Converts ? ArrayPool<float>.Shared.Rent((int)Math.Min(run, int.MaxValue)) : null;
            byte[]? outBuf = null;
            try
            {
                bool gatherToBuffer = IsContiguous(shape, ds);
                if (gatherToBuffer) outBuf = ArrayPool<byte>.Shared.Rent((int)(total * dstSize));
                var index = new long[outerRank];
                long outPos = 0;
                for (long r = 0; r < runs; r++)
                {
                    long sOff = so - srcMin, dRel = dOff;
                    for (int i = 0; i < outerRank; i++)
                    {
                        sOff += index[i] * ss[i];
                        dRel += index[i] * ds[i];
                    }
                    var src = span.Slice((int)(sOff * srcSize), (int)(run * srcSize));
                    Span<byte> dst = default;
                    byte[]? single = null;
                    if (gatherToBuffer)
                    {
                        dst = outBuf.AsSpan((int)(outPos * dstSize), (int)(run * dstSize));
                    }
                    else
                    {
                        single = ArrayPool<byte>.Shared.Rent((int)(run * dstSize));
                        dst = single.AsSpan(0, (int)(run * dstSize));
                    }
                    if (job.Converts)
                    {
                        var f = scratch.AsSpan(0, (int)run);
                        ElementConvert.ToSingle(src, job.SrcType, f);
                        ElementConvert.Apply(job.Op, f);
                        ElementConvert.FromSingle(f, job.DstType, dst);
                    }
                    else
                    {
                        src.CopyTo(dst);
                    }
                    if (single != null)
                    {
                        job.Sink.Write(dRel * dstSize, dst);
                        ArrayPool<byte>.Shared.Return(single);
                    }
                    outPos += run;
                    for (int i = outerRank - 1; i >= 0; i--)
                    {
                        if (++index[i] < shape[i]) break;
                        index[i] = 0;
                    }
                }
                if (gatherToBuffer) job.Sink.Write(dOff * dstSize, outBuf.AsSpan(0, (int)(total * dstSize)));
            }
            finally
            {
                if (scratch != null) ArrayPool<float>.Shared.Return(scratch);
                if (outBuf != null) ArrayPool<byte>.Shared.Return(outBuf);
            }
        }
    }

    private static bool IsContiguous(long[] shape, long[] strides)
    {
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] != 1 && strides[i] != s) return false;
            s *= shape[i];
        }
        return true;
    }
}
