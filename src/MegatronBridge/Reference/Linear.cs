using System.Numerics.Tensors;

namespace MegatronBridge.Reference;

/// <summary>The one matrix kernel: <c>y[t, :] = x[t, :] @ W^T (+ bias)</c> for T rows of activations.</summary>
public static class Linear
{
    // Below this many multiply-adds a Parallel.For costs more than it saves.
    private const long ParallelThreshold = 1 << 16;

    public static float[] Apply(ReadOnlySpan<float> x, int tokens, Matrix w, float[]? bias = null)
    {
        var y = new float[tokens * w.Rows];
        Apply(x, tokens, w, bias, y);
        return y;
    }

    public static void Apply(ReadOnlySpan<float> x, int tokens, Matrix w, float[]? bias, Span<float> y)
    {
        if (x.Length != tokens * w.Cols)
            throw new ArgumentException($"{w.Name}: input has {x.Length} values, expected {tokens} x {w.Cols}");
        if (y.Length != tokens * w.Rows)
            throw new ArgumentException($"{w.Name}: output has {y.Length} values, expected {tokens} x {w.Rows}");
        if (bias is not null && bias.Length != w.Rows)
            throw new InvalidDataException($"{w.Name}: bias has {bias.Length} values, expected {w.Rows}");

        long work = (long)tokens * w.Rows * w.Cols;
        if (work < ParallelThreshold)
        {
            for (int t = 0; t < tokens; t++) Row(x.Slice(t * w.Cols, w.Cols), w, bias, y.Slice(t * w.Rows, w.Rows));
            return;
        }
        // Spans cannot cross into lambdas: copy the (small) activations once.
        var xs = x.ToArray();
        var ys = new float[y.Length];
        int rows = w.Rows, cols = w.Cols;
        Parallel.For(0, tokens * ((rows + 63) / 64), job =>
        {
            int t = job / ((rows + 63) / 64);
            int r0 = (job % ((rows + 63) / 64)) * 64;
            int r1 = Math.Min(rows, r0 + 64);
            var xi = xs.AsSpan(t * cols, cols);
            for (int r = r0; r < r1; r++)
                ys[t * rows + r] = TensorPrimitives.Dot(xi, w.Row(r)) + (bias is null ? 0f : bias[r]);
        });
        ys.CopyTo(y);
    }

    private static void Row(ReadOnlySpan<float> x, Matrix w, float[]? bias, Span<float> y)
    {
        for (int r = 0; r < w.Rows; r++) y[r] = TensorPrimitives.Dot(x, w.Row(r)) + (bias is null ? 0f : bias[r]);
    }
}
