using System.Buffers;
using System.Numerics.Tensors;
using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>
/// The one matrix kernel: <c>y[t, :] = x[t, :] @ W^T (+ bias)</c> for T rows of activations. A stored weight is read
/// a block of rows at a time (the next block read while one is multiplied), so a matmul holds two blocks of float32,
/// never the whole matrix; every output value is the same single dot product either way.
/// </summary>
internal static class Linear
{
    // Below this many multiply-adds a Parallel.For costs more than it saves.
    private const long ParallelThreshold = 1 << 16;
    // Float32 values per block of a stored weight (8 MiB).
    private const long BlockElements = 1 << 21;

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
            throw new InvalidInputException($"{w.Name}: bias has {bias.Length} values, expected {w.Rows}");

        if (!w.InMemory)
        {
            Streamed(x, tokens, w, bias, y);
            return;
        }
        var data = w.Data;
        long work = (long)tokens * w.Rows * w.Cols;
        if (work < ParallelThreshold)
        {
            for (int t = 0; t < tokens; t++) Rows(x.Slice(t * w.Cols, w.Cols), data, 0, w.Rows, w.Cols, bias, y.Slice(t * w.Rows, w.Rows));
            return;
        }
        // Spans cannot cross into lambdas: copy the (small) activations once.
        var xs = x.ToArray();
        var ys = new float[y.Length];
        Block(xs, tokens, data, 0, w.Rows, w.Rows, w.Cols, bias, ys);
        ys.CopyTo(y);
    }

    private static void Streamed(ReadOnlySpan<float> x, int tokens, Matrix w, float[]? bias, Span<float> y)
    {
        int rows = w.Rows, cols = w.Cols;
        int blockRows = w.BlockRows(BlockElements);
        var xs = x.ToArray();
        var ys = new float[y.Length];
        var current = ArrayPool<float>.Shared.Rent(blockRows * cols);
        var next = ArrayPool<float>.Shared.Rent(blockRows * cols);
        try
        {
            w.ReadRows(0, Math.Min(blockRows, rows), current);
            for (int r0 = 0; r0 < rows; r0 += blockRows)
            {
                int count = Math.Min(blockRows, rows - r0);
                int nextStart = r0 + count, nextCount = Math.Min(blockRows, rows - nextStart);
                var fill = next;
                var prefetch = nextCount > 0 ? Task.Run(() => w.ReadRows(nextStart, nextCount, fill)) : Task.CompletedTask;
                try
                {
                    Block(xs, tokens, current, r0, count, rows, cols, bias, ys);
                }
                finally
                {
                    // A failed multiply must not leave a read running into a buffer that goes back to the pool.
                    prefetch.Wait();
                }
                (current, next) = (next, current);
            }
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException!).Throw();
        }
        finally
        {
            ArrayPool<float>.Shared.Return(current);
            ArrayPool<float>.Shared.Return(next);
        }
        ys.CopyTo(y);
    }

    /// <summary>Output rows [r0, r0 + count) of every token from <paramref name="block"/>, which holds those weight rows.</summary>
    private static void Block(float[] xs, int tokens, float[] block, int r0, int count, int rows, int cols, float[]? bias, float[] ys)
    {
        long work = (long)tokens * count * cols;
        if (work < ParallelThreshold)
        {
            for (int t = 0; t < tokens; t++)
                Rows(xs.AsSpan(t * cols, cols), block, r0, count, cols, bias, ys.AsSpan(t * rows + r0, count));
            return;
        }
        int chunks = (count + 63) / 64;
        Parallel.For(0, tokens * chunks, job =>
        {
            int t = job / chunks;
            int c0 = (job % chunks) * 64;
            int c1 = Math.Min(count, c0 + 64);
            var xi = xs.AsSpan(t * cols, cols);
            for (int r = c0; r < c1; r++)
                ys[t * rows + r0 + r] = TensorPrimitives.Dot(xi, block.AsSpan(r * cols, cols)) + (bias is null ? 0f : bias[r0 + r]);
        });
    }

    private static void Rows(ReadOnlySpan<float> x, float[] block, int r0, int count, int cols, float[]? bias, Span<float> y)
    {
        for (int r = 0; r < count; r++) y[r] = TensorPrimitives.Dot(x, block.AsSpan(r * cols, cols)) + (bias is null ? 0f : bias[r0 + r]);
    }
}
