using System.Buffers;
using System.Runtime.Intrinsics;

namespace MegatronBridge.Tensors;

/// <summary>
/// Produces blockwise-scaled FP8 (the inverse of <see cref="BlockScaledFp8Source"/>) from a recipe whose output is a
/// 2-D weight: one band of <c>blockRows</c> output rows at a time is produced by the executor (bounded by the band,
/// never the whole tensor), and each <c>blockRows</c> x <c>blockCols</c> block gets the scale
/// <c>max(amax, 1e-12) / 448</c>, stored in the scale dtype; the block's values are divided by that stored scale,
/// clamped to +-448 and rounded to nearest even into E4M3. The 1e-12 floor is transformers' <c>Fp8Quantize</c>
/// choice: a block of zeros gets a tiny positive scale (and zeros), never a division by zero.
/// </summary>
internal static class Fp8BlockQuantizer
{
    public const float MinAmax = 1e-12f;

    public static TensorShape ScaleShape(TensorShape weight, int blockRows, int blockCols) =>
        new((weight[0] + blockRows - 1) / blockRows, (weight[1] + blockCols - 1) / blockCols);

    /// <summary>
    /// Writes rows [<paramref name="firstRow"/>, +<paramref name="rowCount"/>) of the quantized weight to
    /// <paramref name="weight"/> and their scale rows to <paramref name="scales"/> (offsets in the whole tensors);
    /// <paramref name="firstRow"/> must start a block row.
    /// </summary>
    public static void Execute(TensorRecipe recipe, ITensorSource source, RecipeExecutor executor, int blockRows, int blockCols,
        DType scaleDType, ITensorSink weight, ITensorSink scales, long firstRow, long rowCount)
    {
        var output = recipe.Output;
        if (output.Shape.Rank != 2) throw new NotSupportedException($"{output.Name}: blockwise FP8 needs a 2-D weight, not {output.Shape}");
        if (firstRow % blockRows != 0) throw new ArgumentException($"{output.Name}: FP8 slice starts at row {firstRow}, inside a block of {blockRows} rows");
        if (scaleDType is not (DType.F32 or DType.BF16)) throw new ArgumentException($"FP8 block scales are F32 or BF16, not {scaleDType}");
        long cols = output.Shape[1];
        for (long row = firstRow; row < firstRow + rowCount; row += blockRows)
        {
            int rows = (int)Math.Min(blockRows, firstRow + rowCount - row);
            int n = checked((int)(rows * cols));
            // The band's bytes in a pooled buffer: a conversion quantizes thousands of bands, none kept.
            int bandBytes = n * output.DType.Size();
            var band = ArrayPool<byte>.Shared.Rent(bandBytes);
            try
            {
                var sink = new SpanSink(band, bandBytes);
                try
                {
                    executor.Execute(recipe.NarrowRows(row, rows), source, sink);
                }
                catch (NotSupportedException)
                {
                    // Pieces that do not keep the output's row layout (none of the linear weights Qwen's bridges
                    // export): the band is cut from the whole tensor.
                    var whole = executor.ExecuteToMemory(recipe, source);
                    whole.AsSpan(checked((int)(row * cols * output.DType.Size())), bandBytes).CopyTo(band);
                }
                QuantizeAndWrite(band.AsSpan(0, bandBytes), output.DType, rows, row, cols, blockRows, blockCols, scaleDType, weight, scales);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(band);
            }
        }
    }

    private static void QuantizeAndWrite(ReadOnlySpan<byte> band, DType dtype, int rows, long row, long cols, int blockRows, int blockCols,
        DType scaleDType, ITensorSink weight, ITensorSink scales)
    {
        int n = checked((int)(rows * cols));
        int scaleCols = (int)((cols + blockCols - 1) / blockCols);
        int scaleSize = scaleDType.Size();
        var values = ArrayPool<float>.Shared.Rent(n);
        var fp8 = ArrayPool<byte>.Shared.Rent(n);
        var scaleBytes = new byte[scaleCols * scaleSize];
        try
        {
            ElementConvert.ToSingle(band, dtype, values.AsSpan(0, n));
            QuantizeBand(values.AsSpan(0, n), rows, cols, blockCols, scaleDType, fp8.AsSpan(0, n), scaleBytes);
            weight.Write(row * cols, fp8.AsSpan(0, n));
            scales.Write(row / blockRows * scaleCols * scaleSize, scaleBytes);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(values);
            ArrayPool<byte>.Shared.Return(fp8);
        }
    }

    /// <summary>Writes into the first <c>length</c> bytes of a (pooled) buffer.</summary>
    private sealed class SpanSink(byte[] buffer, int length) : ITensorSink
    {
        public void Write(long byteOffset, ReadOnlySpan<byte> data) =>
            data.CopyTo(buffer.AsSpan(checked((int)byteOffset), length - (int)byteOffset));
    }

    /// <summary>
    /// Quantizes one band of at most one block row (<paramref name="rows"/> x <paramref name="cols"/>, row-major) into
    /// <paramref name="fp8"/>, and writes its ceil(cols / blockCols) scales as <paramref name="scaleDType"/>.
    /// Eight lanes at a time (see <see cref="Float8E4M3Vector"/>), bit-identical to <see cref="QuantizeBandScalar"/>.
    /// </summary>
    public static void QuantizeBand(ReadOnlySpan<float> values, int rows, long cols, int blockCols, DType scaleDType, Span<byte> fp8, Span<byte> scaleBytes)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            QuantizeBandScalar(values, rows, cols, blockCols, scaleDType, fp8, scaleBytes);
            return;
        }
        int scaleCols = (int)((cols + blockCols - 1) / blockCols);
        Span<float> stored = scaleCols <= 1024 ? stackalloc float[scaleCols] : new float[scaleCols];
        for (int b = 0; b < scaleCols; b++)
        {
            long c0 = (long)b * blockCols, c1 = Math.Min(cols, c0 + blockCols);
            float amax = 0;
            for (int r = 0; r < rows; r++) amax = Float8E4M3Vector.AbsMax(values.Slice((int)(r * cols + c0), (int)(c1 - c0)), amax);
            stored[b] = StoredScale(amax, scaleDType);
        }
        ElementConvert.FromSingle(stored, scaleDType, scaleBytes);
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < scaleCols; b++)
            {
                long c0 = (long)b * blockCols, c1 = Math.Min(cols, c0 + blockCols);
                int start = (int)(r * cols + c0), length = (int)(c1 - c0);
                Float8E4M3Vector.DivideAndEncode(values.Slice(start, length), stored[b], fp8.Slice(start, length));
            }
        }
    }

    private static float StoredScale(float amax, DType scaleDType)
    {
        float scale = MathF.Max(amax, MinAmax) / Float8E4M3.MaxValue;
        // The scale as it will be read back, so dequantising multiplies by exactly what the values were divided by.
        return scaleDType == DType.BF16 ? ElementConvert.BFloat16ToSingle(ElementConvert.SingleToBFloat16(scale)) : scale;
    }

    /// <summary>
    /// The element-at-a-time form of <see cref="QuantizeBand"/>: used where Vector256 is not hardware accelerated,
    /// and the reference the vector form is tested against byte for byte.
    /// </summary>
    internal static void QuantizeBandScalar(ReadOnlySpan<float> values, int rows, long cols, int blockCols, DType scaleDType, Span<byte> fp8, Span<byte> scaleBytes)
    {
        int scaleCols = (int)((cols + blockCols - 1) / blockCols);
        Span<float> stored = scaleCols <= 1024 ? stackalloc float[scaleCols] : new float[scaleCols];
        for (int b = 0; b < scaleCols; b++)
        {
            long c0 = (long)b * blockCols, c1 = Math.Min(cols, c0 + blockCols);
            float amax = 0;
            for (int r = 0; r < rows; r++)
            {
                foreach (var v in values.Slice((int)(r * cols + c0), (int)(c1 - c0)))
                {
                    float a = MathF.Abs(v);
                    if (a > amax) amax = a; // NaN is skipped: it stays NaN, its neighbours keep their scale
                }
            }
            stored[b] = StoredScale(amax, scaleDType);
        }
        ElementConvert.FromSingle(stored, scaleDType, scaleBytes);
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < scaleCols; b++)
            {
                long c0 = (long)b * blockCols, c1 = Math.Min(cols, c0 + blockCols);
                float s = stored[b];
                for (long c = c0; c < c1; c++)
                {
                    long i = r * cols + c;
                    float q = values[(int)i] / s;
                    fp8[(int)i] = Float8E4M3.FromSingle(Math.Clamp(q, -Float8E4M3.MaxValue, Float8E4M3.MaxValue));
                }
            }
        }
    }
}
