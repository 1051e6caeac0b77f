using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>
/// <paramref name="Rows"/> consecutive output rows of a fused weight that belong to one part of the projection (query,
/// gate, key, ...), starting at row <paramref name="PartRow"/> of that part.
/// </summary>
internal readonly record struct RowBlock(int Part, int PartRow, int Rows);

/// <summary>One weight matrix (with optional bias) whose output rows are scattered to parts as its blocks say, in order.</summary>
internal sealed record FusedProjection(Matrix Weight, float[]? Bias, IReadOnlyList<RowBlock> Blocks);

/// <summary>
/// Several projections of the same input computed as few matmuls: each fused weight is applied once and its output
/// columns are split into the parts (as Megatron splits <c>linear_qkv</c> / <c>in_proj</c> / <c>linear_fc1</c> outputs).
/// The HF layout is the same thing with other blocks (a plain matrix is one block). Every part column is produced
/// exactly once; that is checked when the set is built, so a wrong layout fails at load time, not in the math.
/// </summary>
internal sealed class ProjectionSet
{
    private readonly int[] _widths;

    public ProjectionSet(IReadOnlyList<int> partWidths, IReadOnlyList<FusedProjection> projections)
    {
        _widths = partWidths.ToArray();
        Projections = projections;
        if (_widths.Length == 0 || projections.Count == 0) throw new InvalidInputException("a projection set needs parts and weights");
        int cols = projections[0].Weight.Cols;
        var covered = _widths.Select(w => new bool[w]).ToArray();
        foreach (var p in projections)
        {
            var w = p.Weight;
            if (w.Cols != cols) throw new InvalidInputException($"{w.Name}: {w.Cols} input features, but {projections[0].Weight.Name} has {cols}");
            if (p.Bias is not null && p.Bias.Length != w.Rows) throw new InvalidInputException($"{w.Name}: bias has {p.Bias.Length} values for {w.Rows} rows");
            int rows = 0;
            foreach (var b in p.Blocks)
            {
                if ((uint)b.Part >= (uint)_widths.Length || b.Rows <= 0 || b.PartRow < 0 || b.PartRow + b.Rows > _widths[b.Part])
                    throw new InvalidInputException($"{w.Name}: block {b} does not fit parts of widths [{string.Join(", ", _widths)}]");
                for (int r = b.PartRow; r < b.PartRow + b.Rows; r++)
                {
                    if (covered[b.Part][r]) throw new InvalidInputException($"{w.Name}: row {r} of part {b.Part} is produced twice");
                    covered[b.Part][r] = true;
                }
                rows += b.Rows;
            }
            if (rows != w.Rows) throw new InvalidInputException($"{w.Name}: its blocks cover {rows} rows, the weight has {w.Rows}");
        }
        for (int part = 0; part < _widths.Length; part++)
        {
            int missing = Array.IndexOf(covered[part], false);
            if (missing >= 0) throw new InvalidInputException($"{projections[0].Weight.Name}: row {missing} of part {part} is produced by no weight");
        }
        InputFeatures = cols;
    }

    public IReadOnlyList<FusedProjection> Projections { get; }
    public IReadOnlyList<int> PartWidths => _widths;
    public int InputFeatures { get; }

    /// <summary>Separate matrices, one part each (the plain HF layout).</summary>
    public static ProjectionSet Separate(params Matrix[] parts) =>
        new(parts.Select(m => m.Rows).ToArray(), parts.Select((m, i) => new FusedProjection(m, null, new[] { new RowBlock(i, 0, m.Rows) })).ToArray());

    /// <summary>One matrix whose rows are the parts one after another.</summary>
    public static ProjectionSet Concatenated(Matrix weight, float[]? bias, params int[] partWidths)
    {
        var blocks = new RowBlock[partWidths.Length];
        for (int i = 0; i < partWidths.Length; i++) blocks[i] = new RowBlock(i, 0, partWidths[i]);
        return new ProjectionSet(partWidths, new[] { new FusedProjection(weight, bias, blocks) });
    }

    /// <summary>Each part [tokens, width] of <c>x @ W^T (+ b)</c>, one matmul per fused weight.</summary>
    public float[][] Apply(ReadOnlySpan<float> x, int tokens)
    {
        var parts = _widths.Select(w => new float[tokens * w]).ToArray();
        foreach (var p in Projections)
        {
            int rows = p.Weight.Rows;
            var y = Linear.Apply(x, tokens, p.Weight, p.Bias);
            for (int t = 0; t < tokens; t++)
            {
                int src = t * rows;
                foreach (var b in p.Blocks)
                {
                    int width = _widths[b.Part];
                    y.AsSpan(src, b.Rows).CopyTo(parts[b.Part].AsSpan(t * width + b.PartRow, b.Rows));
                    src += b.Rows;
                }
            }
        }
        return parts;
    }

    /// <summary>The rows of one part gathered into a matrix (inspection and tests).</summary>
    public Matrix PartWeights(int part)
    {
        int cols = InputFeatures;
        var data = new float[_widths[part] * cols];
        foreach (var p in Projections)
        {
            int src = 0;
            foreach (var b in p.Blocks)
            {
                if (b.Part == part) p.Weight.Data.AsSpan(src * cols, b.Rows * cols).CopyTo(data.AsSpan(b.PartRow * cols));
                src += b.Rows;
            }
        }
        return new Matrix(data, _widths[part], cols, $"{Projections[0].Weight.Name} part {part}");
    }
}
