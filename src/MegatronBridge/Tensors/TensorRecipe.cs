namespace MegatronBridge.Tensors;

/// <summary>A value change applied element by element while copying (computed in float32, rounded to the output dtype).</summary>
public enum ElementOp
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
public sealed record TensorPiece(string Source, StridedView From, StridedView To);

/// <summary>How to produce one output tensor from source tensors: pieces that tile the output exactly once.</summary>
public sealed record TensorRecipe(TensorMeta Output, IReadOnlyList<TensorPiece> Pieces, ElementOp Op = ElementOp.None)
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

    /// <summary>The distinct source tensors this recipe reads.</summary>
    public IEnumerable<string> Sources => Pieces.Select(p => p.Source).Distinct();
}
