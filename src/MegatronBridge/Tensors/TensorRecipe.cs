namespace MegatronBridge.Tensors;

/// <summary>A value change applied element by element while copying (computed in float32, rounded to the output dtype).</summary>
internal enum ElementOp
{
    None,
    /// <summary>w - 1: HF gated RMSNorm weight to Megatron's zero-centred gamma.</summary>
    SubtractOne,
    /// <summary>w + 1: Megatron zero-centred gamma back to the HF weight.</summary>
    AddOne,
}

/// <summary>
/// Copy the elements of <see cref="From"/> (a view of tensor <see cref="Source"/>) into <see cref="To"/> (a view of the
/// output tensor). Both views enumerate the same number of elements in the same order (size-1 dimensions ignored).
/// </summary>
internal sealed record TensorPiece(string Source, StridedView From, StridedView To);

/// <summary>How to produce one output tensor from source tensors: pieces that tile the output exactly once.</summary>
internal sealed record TensorRecipe(TensorMeta Output, IReadOnlyList<TensorPiece> Pieces, ElementOp Op = ElementOp.None)
{
    /// <summary>The output is a plain byte copy of one whole source tensor (the fast path for most tensors).</summary>
    public static TensorRecipe Copy(string outputName, TensorMeta source) =>
        new(source with { Name = outputName },
            new[] { new TensorPiece(source.Name, StridedView.Contiguous(source.Shape), StridedView.Contiguous(source.Shape)) });

    /// <summary>
    /// Concatenates views of sources along <paramref name="dim"/> of the output. Every part must have the output's
    /// shape except on <paramref name="dim"/>.
    /// </summary>
    public static TensorRecipe Concat(string outputName, DType dtype, int dim, IReadOnlyList<(string Source, StridedView View)> parts, ElementOp op = ElementOp.None)
    {
        if (parts.Count == 0) throw new ArgumentException($"{outputName}: nothing to concatenate");
        var shape = (long[])parts[0].View.Shape.Clone();
        shape[dim] = parts.Sum(p => p.View.Shape[dim]);
        var output = new TensorMeta(outputName, dtype, new TensorShape(shape));
        var whole = StridedView.Contiguous(output.Shape);
        var pieces = new List<TensorPiece>(parts.Count);
        long at = 0;
        foreach (var (source, view) in parts)
        {
            if (view.Rank != shape.Length)
                throw new ArgumentException($"{outputName}: part of {source} has rank {view.Rank}, expected {shape.Length}");
            for (int i = 0; i < shape.Length; i++)
            {
                if (i != dim && view.Shape[i] != shape[i])
                    throw new ArgumentException($"{outputName}: part of {source} has shape [{string.Join(", ", view.Shape)}], expected [{string.Join(", ", shape)}] off dim {dim}");
            }
            pieces.Add(new TensorPiece(source, view, whole.Narrow(dim, at, view.Shape[dim])));
            at += view.Shape[dim];
        }
        return new TensorRecipe(output, pieces, op);
    }

    public bool IsPlainCopy =>
        Op == ElementOp.None && Pieces.Count == 1 && Pieces[0].From.Offset == 0 && Pieces[0].From.IsContiguous
        && Pieces[0].To.Offset == 0 && Pieces[0].To.IsContiguous && Pieces[0].To.NumElements == Output.NumElements;

    /// <summary>
    /// The recipe for rows [start, start+length) of this recipe's output (dimension 0), e.g. one half of a gated fc1
    /// or one chunk of a checkpoint. Requires pieces whose output windows keep the output's strides (as
    /// <see cref="Concat"/> builds them) and whose source windows have the output's rank.
    /// </summary>
    public TensorRecipe NarrowRows(long start, long length, string? outputName = null)
    {
        if (Output.Shape.Rank == 0) throw new InvalidOperationException($"{Output.Name}: a scalar has no rows");
        if (start < 0 || length < 0 || start + length > Output.Shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"{Output.Name}: rows [{start}, {start + length}) outside {Output.Shape}");
        var outStrides = Output.Shape.ContiguousStrides();
        long rowElems = outStrides[0];
        var pieces = new List<TensorPiece>();
        foreach (var p in Pieces)
        {
            if (p.To.Rank != Output.Shape.Rank || p.From.Rank != p.To.Rank || !p.To.Strides.AsSpan().SequenceEqual(outStrides))
                throw new NotSupportedException($"{Output.Name}: cannot take rows of a piece from {p.Source} with {p.To}");
            long first = rowElems == 0 ? 0 : p.To.Offset / rowElems;
            long a = Math.Max(first, start), b = Math.Min(first + p.To.Shape[0], start + length);
            if (a >= b) continue;
            var from = p.From.Narrow(0, a - first, b - a);
            var to = p.To.Narrow(0, a - first, b - a);
            pieces.Add(new TensorPiece(p.Source, from, new StridedView(to.Offset - start * rowElems, to.Shape, to.Strides)));
        }
        var meta = new TensorMeta(outputName ?? Output.Name, Output.DType, Output.Shape.WithDim(0, length));
        return new TensorRecipe(meta, pieces, Op);
    }

    /// <summary>The distinct source tensors this recipe reads.</summary>
    public IEnumerable<string> Sources => Pieces.Select(p => p.Source).Distinct();
}
