using System.Runtime.InteropServices;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Tensors;

public class BlockScaledFp8SourceTests
{
    // A 3 x 5 weight in 2 x 2 blocks: scales [2, 3], the last block row one row high and the last block column one wide.
    // E4M3 patterns: 0x38 = 1, 0x40 = 2, 0xB8 = -1, 0x3C = 1.5, 0x00 = 0, 0x7E = 448, 0x01 = 2^-9.
    private static readonly byte[] Weight =
    {
        0x38, 0x40, 0xB8, 0x3C, 0x7E,
        0x40, 0x00, 0x3C, 0x38, 0x01,
        0xB8, 0x38, 0x7E, 0x40, 0x3C,
    };

    private static readonly float[] Scales = { 0.5f, 2f, 3f, 0.25f, 10f, 0.1f };

    // Worked by hand: value x the scale of its block, then rounded to bf16. 1.5 x float32(0.1) = 0.15000000596...,
    // whose nearest bf16 is 0.150390625 (0x3E1A; 0x3E19 is 0.1494140625).
    private static readonly float[] ExpectedBf16 =
    {
        0.5f, 1f, -2f, 3f, 1344f,
        1f, 0f, 3f, 2f, 0.005859375f,
        -0.25f, 0.25f, 4480f, 20f, 0.150390625f,
    };

    private static MemoryTensorSource Release(DType scaleDType, float[]? scales = null)
    {
        scales ??= Scales;
        var scaleBytes = new byte[scales.Length * scaleDType.Size()];
        ElementConvert.FromSingle(scales, scaleDType, scaleBytes);
        return new MemoryTensorSource("release")
            .Add("norm.weight", DType.BF16, new TensorShape(2), new byte[] { 0x80, 0x3F, 0x00, 0x40 })
            .Add("w.weight", DType.F8E4M3, new TensorShape(3, 5), Weight)
            .Add("w.weight_scale_inv", scaleDType, new TensorShape(2, 3), scaleBytes);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void Dequantises_hand_worked_blocks_to_bf16(DType scaleDType)
    {
        var view = new BlockScaledFp8Source(Release(scaleDType), 2, 2, DType.BF16);
        var bytes = view.ReadAll("w.weight");
        var actual = MemoryMarshal.Cast<byte, ushort>(bytes).ToArray();
        var expected = ExpectedBf16.Select(f => (ushort)(BitConverter.SingleToUInt32Bits(f) >> 16)).ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Dequantises_to_float32_without_rounding_the_product()
    {
        var view = new BlockScaledFp8Source(Release(DType.F32), 2, 2, DType.F32);
        var actual = MemoryMarshal.Cast<byte, float>(view.ReadAll("w.weight")).ToArray();
        var expected = (float[])ExpectedBf16.Clone();
        expected[14] = 1.5f * 0.1f; // float32 product, not rounded to bf16
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Presents_weights_in_the_output_dtype_hides_scales_and_passes_the_rest_through()
    {
        var release = Release(DType.F32);
        var view = new BlockScaledFp8Source(release, 2, 2, DType.BF16);
        Assert.Equal(new[] { "norm.weight", "w.weight" }, view.Tensors.Select(t => t.Name));
        Assert.Equal(new TensorMeta("w.weight", DType.BF16, new TensorShape(3, 5)), view.Get("w.weight"));
        Assert.False(view.Contains("w.weight_scale_inv"));
        Assert.Equal(release.Data("norm.weight"), view.ReadAll("norm.weight"));
        Assert.Equal(new[] { "w.weight" }, view.QuantizedTensors);
    }

    [Fact]
    public void Reads_of_any_element_range_match_the_whole_tensor()
    {
        var view = new BlockScaledFp8Source(Release(DType.F32), 2, 2, DType.BF16);
        var whole = view.ReadAll("w.weight");
        for (int first = 0; first < 15; first++)
        {
            for (int count = 0; first + count <= 15; count++)
            {
                var part = new byte[count * 2];
                view.Read("w.weight", first * 2, part);
                Assert.Equal(whole.AsSpan(first * 2, count * 2).ToArray(), part);
            }
        }
    }

    [Fact]
    public void Large_edge_blocks_stream_through_the_executor_with_a_small_buffer()
    {
        // 300 x 260 in 128 x 128 blocks: edge blocks of 44 rows and 4 columns; the executor reads 4 KiB at a time.
        const int rows = 300, cols = 260;
        var random = new Random(7);
        var weight = new byte[rows * cols];
        for (int i = 0; i < weight.Length; i++) weight[i] = (byte)(random.Next(0, 126) | (random.Next(2) << 7)); // no NaN
        var scales = Enumerable.Range(0, 3 * 3).Select(_ => (float)random.NextDouble() * 0.01f).ToArray();
        var source = new MemoryTensorSource()
            .Add("w", DType.F8E4M3, new TensorShape(rows, cols), weight)
            .Add("w_scale_inv", DType.F32, new TensorShape(3, 3), MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        var view = new BlockScaledFp8Source(source, 128, 128, DType.BF16);
        var meta = view.Get("w");
        var produced = new RecipeExecutor(4096).ExecuteToMemory(TensorRecipe.Copy("out", meta), view);
        var values = MemoryMarshal.Cast<byte, ushort>(produced);
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                float expected = Float8E4M3.ToSingle(weight[r * cols + c]) * scales[(r / 128) * 3 + c / 128];
                Assert.Equal(ElementConvert.SingleToBFloat16(expected), values[r * cols + c]);
            }
        }
    }

    [Fact]
    public void Refuses_a_weight_without_scales_naming_it()
    {
        var source = new MemoryTensorSource("rel").Add("w.weight", DType.F8E4M3, new TensorShape(2, 2), new byte[4]);
        var e = Assert.Throws<InvalidInputException>(() => new BlockScaledFp8Source(source, 128, 128, DType.BF16));
        Assert.Contains("'w.weight'", e.Message);
        Assert.Contains("w.weight_scale_inv", e.Message);
    }

    [Fact]
    public void Refuses_scales_of_the_wrong_shape_or_dtype()
    {
        var wrongShape = new MemoryTensorSource("rel")
            .Add("w", DType.F8E4M3, new TensorShape(3, 5), new byte[15])
            .Add("w_scale_inv", DType.F32, new TensorShape(1, 3), new byte[12]);
        var e = Assert.Throws<InvalidInputException>(() => new BlockScaledFp8Source(wrongShape, 2, 2, DType.BF16));
        Assert.Contains("'w_scale_inv' has shape [1, 3]", e.Message);
        Assert.Contains("needs [2, 3]", e.Message);
        var wrongType = new MemoryTensorSource("rel")
            .Add("w", DType.F8E4M3, new TensorShape(3, 5), new byte[15])
            .Add("w_scale_inv", DType.F16, new TensorShape(2, 3), new byte[12]);
        e = Assert.Throws<InvalidInputException>(() => new BlockScaledFp8Source(wrongType, 2, 2, DType.BF16));
        Assert.Contains("'w_scale_inv' is F16", e.Message);
    }

    [Fact]
    public void Nan_weights_and_non_finite_scales_read_as_non_finite_values()
    {
        var weight = (byte[])Weight.Clone();
        weight[0] = 0x7F; // NaN
        var scales = (float[])Scales.Clone();
        scales[4] = float.PositiveInfinity; // block (1, 1): rows 2, columns 2-3
        var scaleBytes = MemoryMarshal.AsBytes(scales.AsSpan()).ToArray();
        var source = new MemoryTensorSource()
            .Add("w", DType.F8E4M3, new TensorShape(3, 5), weight)
            .Add("w_scale_inv", DType.F32, new TensorShape(2, 3), scaleBytes);
        var values = MemoryMarshal.Cast<byte, float>(new BlockScaledFp8Source(source, 2, 2, DType.F32).ReadAll("w")).ToArray();
        Assert.True(float.IsNaN(values[0]));
        Assert.Equal(float.PositiveInfinity, values[12]);
        Assert.Equal(float.PositiveInfinity, values[13]);
        Assert.Equal(-0.25f, values[10]);
    }
}
