using System.Runtime.InteropServices;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Tensors;

public class Fp8BlockQuantizerTests
{
    [Fact]
    public void Quantizes_a_hand_worked_band()
    {
        // One row, blocks of 2 columns: block 0 has amax 896 -> scale 2; block 1 (the edge) has amax 3 -> scale 3/448.
        var fp8 = new byte[3];
        var scales = new byte[8];
        Fp8BlockQuantizer.QuantizeBand(new[] { 1f, -896f, 3f }, 1, 3, 2, DType.F32, fp8, scales);
        Assert.Equal(new float[] { 2f, 3f / 448f }, MemoryMarshal.Cast<byte, float>(scales).ToArray());
        Assert.Equal(new byte[] { 0x30, 0xFE, 0x7E }, fp8); // 0.5, -448, 448
    }

    [Fact]
    public void A_block_of_zeros_gets_the_floor_scale_and_zeros()
    {
        var fp8 = new byte[4] { 1, 1, 1, 1 };
        var scales = new byte[2];
        Fp8BlockQuantizer.QuantizeBand(new float[4], 2, 2, 2, DType.BF16, fp8, scales);
        Assert.Equal(new byte[4], fp8);
        float scale = ElementConvert.BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(scales)[0]);
        Assert.Equal(ElementConvert.BFloat16ToSingle(ElementConvert.SingleToBFloat16(1e-12f / 448f)), scale);
        Assert.True(scale > 0);
    }

    [Fact]
    public void Values_are_divided_by_the_stored_bf16_scale_and_clamped()
    {
        // amax 449: 449/448 rounds to bf16 1.0 (0x3F80), so 449 / 1.0 clamps to 448 and 1.3 / 1.0 rounds to 1.25.
        var fp8 = new byte[2];
        var scales = new byte[2];
        Fp8BlockQuantizer.QuantizeBand(new[] { 449f, 1.3f }, 1, 2, 128, DType.BF16, fp8, scales);
        Assert.Equal(new byte[] { 0x80, 0x3F }, scales);
        Assert.Equal(new byte[] { 0x7E, 0x3A }, fp8);
    }

    /// <summary>Half the distance between neighbouring E4M3 values around magnitude <paramref name="y"/> (OCP E4M3: 3 mantissa bits, subnormal spacing 2^-9).</summary>
    private static double HalfUlp(double y) => y < Math.Pow(2, -6) ? Math.Pow(2, -10) : Math.Pow(2, Math.Floor(Math.Log2(y)) - 4);

    [Theory]
    [InlineData("model.language_model.layers.0.linear_attn.in_proj_qkv.weight", DType.F32)]
    [InlineData("model.language_model.layers.0.linear_attn.out_proj.weight", DType.BF16)]
    [InlineData("model.visual.merger.linear_fc1.weight", DType.F32)]
    public void Quantise_then_dequantise_of_fixture_weights_stays_within_half_an_e4m3_ulp_per_block(string name, DType scaleDType)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(TestPaths.Fixture("qwen35-vl-moe-tiny"));
        var meta = checkpoint.Get(name);
        var x = ElementConvert.ReadFloats(checkpoint, name);
        // 48 x 40 blocks: several blocks per tensor, edge blocks in both dimensions.
        const int br = 48, bc = 40;
        var rows = (int)meta.Shape[0];
        var cols = (int)meta.Shape[1];
        var fp8 = new byte[x.Length];
        int scaleCols = (cols + bc - 1) / bc, scaleRows = (rows + br - 1) / br;
        var scaleBytes = new byte[scaleRows * scaleCols * scaleDType.Size()];
        var source = new MemoryTensorSource().Add(meta, checkpoint.ReadAll(name));
        var weightSink = new MemoryTensorSink(fp8.Length);
        var scaleSink = new MemoryTensorSink(scaleBytes.Length);
        Fp8BlockQuantizer.Execute(TensorRecipe.Copy(name, meta), source, new RecipeExecutor(), br, bc, scaleDType, weightSink, scaleSink, 0, rows);
        var scales = new float[scaleRows * scaleCols];
        ElementConvert.ToSingle(scaleSink.Buffer, scaleDType, scales);

        var view = new BlockScaledFp8Source(new MemoryTensorSource()
            .Add(name, DType.F8E4M3, meta.Shape, weightSink.Buffer)
            .Add(name + "_scale_inv", scaleDType, new TensorShape(scaleRows, scaleCols), scaleSink.Buffer), br, bc, DType.F32);
        var back = MemoryMarshal.Cast<byte, float>(view.ReadAll(name)).ToArray();
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                double s = scales[r / br * scaleCols + c / bc];
                double y = Math.Abs(x[i]) / s;
                Assert.True(y <= 448 * (1 + 1e-2), $"{name}[{r}, {c}]: {x[i]} / {s} outside the e4m3 range");
                // Half an ulp of the scaled value, times the scale, plus the float32 rounding of the product.
                double bound = HalfUlp(Math.Min(y, 448)) * s + Math.Abs(back[i]) * 1e-7 + Math.Max(0, y - 448) * s;
                Assert.True(Math.Abs(back[i] - x[i]) <= bound, $"{name}[{r}, {c}]: {x[i]} came back as {back[i]} (bound {bound})");
            }
        }
        // The scale of each block is its amax / 448 (rounded to the scale dtype).
        for (int b = 0; b < scales.Length; b++)
        {
            int br0 = b / scaleCols * br, bc0 = b % scaleCols * bc;
            float amax = 0;
            for (int r = br0; r < Math.Min(rows, br0 + br); r++)
                for (int c = bc0; c < Math.Min(cols, bc0 + bc); c++)
                    amax = Math.Max(amax, Math.Abs(x[r * cols + c]));
            var expected = new byte[scaleDType.Size()];
            ElementConvert.FromSingle(new[] { amax / 448f }, scaleDType, expected);
            var actual = new byte[scaleDType.Size()];
            ElementConvert.FromSingle(new[] { scales[b] }, scaleDType, actual);
            Assert.Equal(expected, actual);
        }
    }
}
