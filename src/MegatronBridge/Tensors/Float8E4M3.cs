namespace MegatronBridge.Tensors;

/// <summary>
/// The OCP 8-bit floating point format E4M3 ("float8_e4m3fn" in PyTorch): 1 sign bit, 4 exponent bits (bias 7),
/// 3 mantissa bits. There are no infinities: S.1111.111 is NaN (both signs), every other pattern is finite, the
/// largest being S.1111.110 = 448. Exponent 0 holds the subnormals (mantissa x 2^-9).
/// </summary>
internal static class Float8E4M3
{
    public const float MaxValue = 448f;

    /// <summary>The canonical NaN PyTorch writes (0x7F).</summary>
    public const byte NaN = 0x7F;

    private static readonly float[] Values = BuildTable();

    private static float[] BuildTable()
    {
        var table = new float[256];
        for (int bits = 0; bits < 256; bits++)
        {
            int sign = bits >> 7, exponent = (bits >> 3) & 0xF, mantissa = bits & 0x7;
            float magnitude = exponent == 0xF && mantissa == 0x7 ? float.NaN
                : exponent == 0 ? mantissa * MathF.Pow(2, -9)
                : (1 + mantissa / 8f) * MathF.Pow(2, exponent - 7);
            table[bits] = sign == 1 ? -magnitude : magnitude;
        }
        return table;
    }

    public static float ToSingle(byte bits) => Values[bits];

    public static void ToSingle(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var table = Values;
        for (int i = 0; i < dst.Length; i++) dst[i] = table[src[i]];
    }

    /// <summary>
    /// Rounds a float32 to the nearest E4M3 value, ties to even; values beyond +-448 (and infinities) saturate to
    /// +-448, NaN becomes <see cref="NaN"/>. Quantisation divides by a block scale first, so saturating matches the
    /// clamp to +-448 that blockwise FP8 quantisers apply before the cast.
    /// </summary>
    public static byte FromSingle(float value)
    {
        if (float.IsNaN(value)) return NaN;
        uint bits = BitConverter.SingleToUInt32Bits(value);
        byte sign = (byte)((bits >> 24) & 0x80);
        float a = MathF.Abs(value);
        if (a >= MaxValue) return (byte)(sign | 0x7E);
        // Below 2^-6 (the smallest normal) the spacing is 2^-9: round a * 2^9 to an integer, ties to even.
        if (a < 0.015625f)
        {
            int m = (int)MathF.Round(a * 512f, MidpointRounding.ToEven);
            return (byte)(sign | m); // m == 8 is the smallest normal, 0.0001.000
        }
        // Normal: keep 3 mantissa bits of the float32, rounding the 20 dropped bits to nearest even.
        int exponent = (int)((bits >> 23) & 0xFF) - 127; // -6 .. 8
        uint mantissa = bits & 0x7F_FFFF;
        uint kept = mantissa >> 20, rest = mantissa & 0xF_FFFF;
        if (rest > 0x8_0000 || (rest == 0x8_0000 && (kept & 1) == 1)) kept++;
        int e = exponent + 7;
        if (kept == 8) { kept = 0; e++; }
        // a < 448 rounds at most to 448 (1.1111.110), never to the NaN pattern.
        return (byte)(sign | (e << 3) | (int)kept);
    }

    public static void FromSingle(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int i = 0; i < src.Length; i++) dst[i] = FromSingle(src[i]);
    }
}
