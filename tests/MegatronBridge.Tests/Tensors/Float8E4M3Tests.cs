using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Tensors;

public class Float8E4M3Tests
{
    /// <summary>
    /// Every E4M3 bit pattern's value from the OCP 8-bit floating point specification (E4M3: bias 7, exponent 0 is
    /// subnormal m/8 x 2^-6, no infinities, S.1111.111 is NaN), written out here, not computed by the code under test.
    /// Row k holds patterns 8k .. 8k+7.
    /// </summary>
    private static readonly float[] OcpTable =
    {
        0.0f, 0.001953125f, 0.00390625f, 0.005859375f, 0.0078125f, 0.009765625f, 0.01171875f, 0.013671875f,
        0.015625f, 0.017578125f, 0.01953125f, 0.021484375f, 0.0234375f, 0.025390625f, 0.02734375f, 0.029296875f,
        0.03125f, 0.03515625f, 0.0390625f, 0.04296875f, 0.046875f, 0.05078125f, 0.0546875f, 0.05859375f,
        0.0625f, 0.0703125f, 0.078125f, 0.0859375f, 0.09375f, 0.1015625f, 0.109375f, 0.1171875f,
        0.125f, 0.140625f, 0.15625f, 0.171875f, 0.1875f, 0.203125f, 0.21875f, 0.234375f,
        0.25f, 0.28125f, 0.3125f, 0.34375f, 0.375f, 0.40625f, 0.4375f, 0.46875f,
        0.5f, 0.5625f, 0.625f, 0.6875f, 0.75f, 0.8125f, 0.875f, 0.9375f,
        1.0f, 1.125f, 1.25f, 1.375f, 1.5f, 1.625f, 1.75f, 1.875f,
        2.0f, 2.25f, 2.5f, 2.75f, 3.0f, 3.25f, 3.5f, 3.75f,
        4.0f, 4.5f, 5.0f, 5.5f, 6.0f, 6.5f, 7.0f, 7.5f,
        8.0f, 9.0f, 10.0f, 11.0f, 12.0f, 13.0f, 14.0f, 15.0f,
        16.0f, 18.0f, 20.0f, 22.0f, 24.0f, 26.0f, 28.0f, 30.0f,
        32.0f, 36.0f, 40.0f, 44.0f, 48.0f, 52.0f, 56.0f, 60.0f,
        64.0f, 72.0f, 80.0f, 88.0f, 96.0f, 104.0f, 112.0f, 120.0f,
        128.0f, 144.0f, 160.0f, 176.0f, 192.0f, 208.0f, 224.0f, 240.0f,
        256.0f, 288.0f, 320.0f, 352.0f, 384.0f, 416.0f, 448.0f, float.NaN,
        -0.0f, -0.001953125f, -0.00390625f, -0.005859375f, -0.0078125f, -0.009765625f, -0.01171875f, -0.013671875f,
        -0.015625f, -0.017578125f, -0.01953125f, -0.021484375f, -0.0234375f, -0.025390625f, -0.02734375f, -0.029296875f,
        -0.03125f, -0.03515625f, -0.0390625f, -0.04296875f, -0.046875f, -0.05078125f, -0.0546875f, -0.05859375f,
        -0.0625f, -0.0703125f, -0.078125f, -0.0859375f, -0.09375f, -0.1015625f, -0.109375f, -0.1171875f,
        -0.125f, -0.140625f, -0.15625f, -0.171875f, -0.1875f, -0.203125f, -0.21875f, -0.234375f,
        -0.25f, -0.28125f, -0.3125f, -0.34375f, -0.375f, -0.40625f, -0.4375f, -0.46875f,
        -0.5f, -0.5625f, -0.625f, -0.6875f, -0.75f, -0.8125f, -0.875f, -0.9375f,
        -1.0f, -1.125f, -1.25f, -1.375f, -1.5f, -1.625f, -1.75f, -1.875f,
        -2.0f, -2.25f, -2.5f, -2.75f, -3.0f, -3.25f, -3.5f, -3.75f,
        -4.0f, -4.5f, -5.0f, -5.5f, -6.0f, -6.5f, -7.0f, -7.5f,
        -8.0f, -9.0f, -10.0f, -11.0f, -12.0f, -13.0f, -14.0f, -15.0f,
        -16.0f, -18.0f, -20.0f, -22.0f, -24.0f, -26.0f, -28.0f, -30.0f,
        -32.0f, -36.0f, -40.0f, -44.0f, -48.0f, -52.0f, -56.0f, -60.0f,
        -64.0f, -72.0f, -80.0f, -88.0f, -96.0f, -104.0f, -112.0f, -120.0f,
        -128.0f, -144.0f, -160.0f, -176.0f, -192.0f, -208.0f, -224.0f, -240.0f,
        -256.0f, -288.0f, -320.0f, -352.0f, -384.0f, -416.0f, -448.0f, float.NaN,
    };

    [Fact]
    public void Decodes_every_pattern_as_the_ocp_table()
    {
        Assert.Equal(256, OcpTable.Length);
        for (int bits = 0; bits < 256; bits++)
        {
            float actual = Float8E4M3.ToSingle((byte)bits);
            if (float.IsNaN(OcpTable[bits])) Assert.True(float.IsNaN(actual), $"0x{bits:X2} must be NaN, got {actual}");
            else Assert.Equal(BitConverter.SingleToUInt32Bits(OcpTable[bits]), BitConverter.SingleToUInt32Bits(actual));
        }
    }

    [Fact]
    public void Has_two_nan_patterns_and_no_infinity()
    {
        var nans = Enumerable.Range(0, 256).Where(b => float.IsNaN(Float8E4M3.ToSingle((byte)b))).ToArray();
        Assert.Equal(new[] { 0x7F, 0xFF }, nans);
        Assert.DoesNotContain(Enumerable.Range(0, 256), b => float.IsInfinity(Float8E4M3.ToSingle((byte)b)));
        Assert.Equal(448f, Float8E4M3.ToSingle(0x7E));
        Assert.Equal(-448f, Float8E4M3.ToSingle(0xFE));
    }

    [Fact]
    public void Span_decoding_matches_the_table()
    {
        var all = Enumerable.Range(0, 256).Select(b => (byte)b).ToArray();
        var values = new float[256];
        Float8E4M3.ToSingle(all, values);
        for (int b = 0; b < 256; b++)
            Assert.True(float.IsNaN(OcpTable[b]) ? float.IsNaN(values[b]) : OcpTable[b] == values[b], $"0x{b:X2}");
    }

    [Fact]
    public void Encodes_every_finite_value_to_its_own_pattern()
    {
        for (int bits = 0; bits < 256; bits++)
        {
            if (float.IsNaN(OcpTable[bits])) continue;
            Assert.Equal((byte)bits, Float8E4M3.FromSingle(OcpTable[bits]));
        }
    }

    [Theory]
    // Ties between neighbours go to the even mantissa.
    [InlineData(1.0625f, 0x38)]       // halfway 1 (0x38) and 1.125 (0x39): even is 1
    [InlineData(1.1875f, 0x3A)]       // halfway 1.125 (0x39) and 1.25 (0x3A): even is 1.25
    [InlineData(1.0625001f, 0x39)]    // just above halfway rounds up
    [InlineData(0.0009765625f, 0x00)] // halfway 0 and the smallest subnormal 2^-9: even is 0
    [InlineData(0.0029296875f, 0x02)] // halfway 2^-9 (0x01) and 2^-8 (0x02): even is 0x02
    [InlineData(0.0146484375f, 0x08)] // halfway the largest subnormal 7x2^-9 and the smallest normal 2^-6: even is 2^-6
    [InlineData(440f, 0x7E)]          // halfway 416 and 448: even is 448
    [InlineData(-3.3f, 0xC5)]         // nearest to -3.25
    // Beyond 448 (and infinities) saturate; NaN stays NaN.
    [InlineData(449f, 0x7E)]
    [InlineData(1e30f, 0x7E)]
    [InlineData(-500f, 0xFE)]
    [InlineData(float.PositiveInfinity, 0x7E)]
    [InlineData(float.NegativeInfinity, 0xFE)]
    [InlineData(float.NaN, 0x7F)]
    [InlineData(-0.0f, 0x80)]
    public void Encodes_rounding_to_nearest_even_and_saturating(float value, int expected) =>
        Assert.Equal((byte)expected, Float8E4M3.FromSingle(value));

    [Fact]
    public void Encoding_picks_the_nearest_value_for_values_between_patterns()
    {
        var finite = Enumerable.Range(0, 256).Where(b => !float.IsNaN(OcpTable[b])).Select(b => OcpTable[b]).Distinct().OrderBy(v => v).ToArray();
        var random = new Random(19);
        for (int i = 0; i < 20000; i++)
        {
            float v = (float)((random.NextDouble() * 2 - 1) * 448);
            float got = Float8E4M3.ToSingle(Float8E4M3.FromSingle(v));
            float best = finite.MinBy(f => Math.Abs((double)f - v));
            Assert.True(Math.Abs((double)got - v) <= Math.Abs((double)best - v), $"{v}: got {got}, nearest is {best}");
        }
    }
}
