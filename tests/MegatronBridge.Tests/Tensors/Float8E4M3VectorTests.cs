using System.Runtime.Intrinsics;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Tensors;

/// <summary>The eight-lane E4M3 encoder and the vector band quantiser against their scalar references, bit for bit.</summary>
public class Float8E4M3VectorTests
{
    /// <summary>Encodes through the lane function (8 at a time) and asserts each byte equals the scalar encoder's.</summary>
    private static void AssertLanesMatchScalar(IReadOnlyList<float> inputs)
    {
        var lanes = new float[8];
        for (int i = 0; i < inputs.Count; i += 8)
        {
            for (int l = 0; l < 8; l++) lanes[l] = inputs[Math.Min(i + l, inputs.Count - 1)];
            var encoded = Float8E4M3Vector.Encode(Vector256.Create(lanes));
            for (int l = 0; l < 8; l++)
            {
                byte expected = Float8E4M3.FromSingle(lanes[l]);
                uint got = encoded.GetElement(l);
                if (got != expected)
                    Assert.Fail($"0x{BitConverter.SingleToUInt32Bits(lanes[l]):X8} ({lanes[l]}): vector 0x{got:X}, scalar 0x{expected:X2}");
            }
        }
    }

    [Fact]
    public void Every_bf16_value_encodes_like_the_scalar_encoder()
    {
        var inputs = new float[65536];
        for (int b = 0; b < inputs.Length; b++) inputs[b] = BitConverter.UInt32BitsToSingle((uint)b << 16);
        AssertLanesMatchScalar(inputs);
    }

    [Fact]
    public void A_million_random_float32_bit_patterns_encode_like_the_scalar_encoder()
    {
        var random = new Random(19);
        var inputs = new float[1 << 20];
        for (int i = 0; i < inputs.Length; i++)
        {
            uint bits = (uint)random.NextInt64(0, 1L << 32);
            // Half the patterns scaled into E4M3's range, where the rounding work happens.
            if ((i & 1) == 1) bits = (bits & 0x807F_FFFF) | ((uint)random.Next(100, 137) << 23);
            inputs[i] = BitConverter.UInt32BitsToSingle(bits);
        }
        AssertLanesMatchScalar(inputs);
    }

    [Fact]
    public void Every_tie_between_adjacent_e4m3_values_and_its_neighbours_encode_like_the_scalar_encoder()
    {
        var inputs = new List<float>();
        for (int code = 0; code < 0x7E; code++)
        {
            float lo = Float8E4M3.ToSingle((byte)code), hi = Float8E4M3.ToSingle((byte)(code + 1));
            float tie = (lo + hi) / 2; // exact: both are short binary fractions
            Assert.Equal((double)lo + hi, 2.0 * tie);
            foreach (float v in new[] { lo, hi, tie, MathF.BitIncrement(tie), MathF.BitDecrement(tie) })
            {
                inputs.Add(v);
                inputs.Add(-v);
            }
        }
        // The tie above 448 (between 448 and the would-be 480) and the specials.
        inputs.AddRange(new[]
        {
            464f, -464f, 448f, -448f, MathF.BitIncrement(448f), MathF.BitDecrement(448f), 1e30f, -1e30f, float.MaxValue,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, -float.NaN, BitConverter.UInt32BitsToSingle(0x7F80_0001),
            BitConverter.UInt32BitsToSingle(0xFFC0_1234), 0f, -0f, float.Epsilon, -float.Epsilon, 1e-40f, -1e-40f,
            0.015625f, MathF.BitDecrement(0.015625f), -MathF.BitDecrement(0.015625f),
        });
        AssertLanesMatchScalar(inputs);
        // The specials' bytes, stated: NaN of either sign 0x7F, saturation keeps the sign, -0 keeps it too.
        Assert.Equal(0x7Fu, Float8E4M3Vector.Encode(Vector256.Create(-float.NaN)).GetElement(0));
        Assert.Equal(0xFEu, Float8E4M3Vector.Encode(Vector256.Create(float.NegativeInfinity)).GetElement(0));
        Assert.Equal(0x7Eu, Float8E4M3Vector.Encode(Vector256.Create(464f)).GetElement(0));
        Assert.Equal(0x80u, Float8E4M3Vector.Encode(Vector256.Create(-0f)).GetElement(0));
    }

    [Fact]
    public void Divide_and_encode_matches_the_scalar_division_on_every_length_and_tail()
    {
        var random = new Random(7);
        var values = new float[200];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1) * 900f;
        values[5] = float.NaN;
        values[40] = -0f;
        values[77] = float.PositiveInfinity;
        foreach (int length in new[] { 0, 1, 7, 31, 32, 33, 64, 127, 128, 200 })
        {
            var got = new byte[length];
            Float8E4M3Vector.DivideAndEncode(values.AsSpan(0, length), 1.7f, got);
            var expected = new byte[length];
            for (int i = 0; i < length; i++) expected[i] = Float8E4M3.FromSingle(Math.Clamp(values[i] / 1.7f, -448f, 448f));
            Assert.Equal(expected, got);
        }
    }

    [Theory]
    [InlineData(1, 300, 128, DType.F32)]
    [InlineData(128, 300, 128, DType.BF16)]
    [InlineData(3, 257, 128, DType.F32)]
    [InlineData(5, 45, 16, DType.BF16)]
    [InlineData(2, 7, 128, DType.F32)]
    public void Vector_band_quantisation_equals_the_scalar_reference(int rows, int cols, int blockCols, DType scaleDType)
    {
        var random = new Random(rows * 1000 + cols);
        var values = new float[rows * cols];
        for (int i = 0; i < values.Length; i++)
        {
            // Magnitudes over many octaves, so blocks have very different scales and values reach the subnormals.
            values[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(2, random.Next(-30, 20)));
        }
        for (int k = 0; k < 6; k++) values[random.Next(values.Length)] = float.NaN;
        values[random.Next(values.Length)] = -0f;
        // One block entirely NaN and zero in its first row: its scale comes from the other rows or the floor.
        for (int c = 0; c < Math.Min(blockCols, cols); c++) values[c] = c % 2 == 0 ? float.NaN : 0f;
        int scaleCols = (cols + blockCols - 1) / blockCols;
        var fp8 = new byte[values.Length];
        var scales = new byte[scaleCols * scaleDType.Size()];
        var fp8Reference = new byte[values.Length];
        var scalesReference = new byte[scales.Length];
        Fp8BlockQuantizer.QuantizeBand(values, rows, cols, blockCols, scaleDType, fp8, scales);
        Fp8BlockQuantizer.QuantizeBandScalar(values, rows, cols, blockCols, scaleDType, fp8Reference, scalesReference);
        Assert.Equal(scalesReference, scales);
        Assert.Equal(fp8Reference, fp8);
    }

    [Fact]
    public void Abs_max_skips_nan_like_the_scalar_compare()
    {
        var values = new float[] { float.NaN, -3f, 2f, float.NaN, 1f, -0f, 2.5f, float.NaN, -7.5f, float.NaN, 4f };
        Assert.Equal(7.5f, Float8E4M3Vector.AbsMax(values, 0f));
        Assert.Equal(7.5f, Float8E4M3Vector.AbsMax(values.AsSpan(1, 8), 0f));
        Assert.Equal(3f, Float8E4M3Vector.AbsMax(values.AsSpan(0, 3), 0f));
        Assert.Equal(0f, Float8E4M3Vector.AbsMax(new[] { float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, float.NaN, float.NaN }, 0f));
        Assert.Equal(9f, Float8E4M3Vector.AbsMax(values, 9f));
    }
}
