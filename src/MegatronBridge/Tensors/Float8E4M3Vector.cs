using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MegatronBridge.Tensors;

/// <summary>
/// Eight-lane (Vector256) forms of the E4M3 work blockwise FP8 quantisation does per element: the NaN-skipping
/// absolute maximum of a block and the divide-then-encode of its values. Every result is bit-identical to the scalar
/// <see cref="Float8E4M3.FromSingle(float)"/> and to the <c>a &gt; amax</c> loop; callers use these only when
/// <see cref="Vector256.IsHardwareAccelerated"/>, and the lane functions stay correct (just slow) without it.
/// </summary>
internal static class Float8E4M3Vector
{
    private const uint AbsMask = 0x7FFF_FFFF;
    private const uint MaxBits = 0x43E0_0000; // 448f
    private const uint MinNormalBits = 0x3C80_0000; // 2^-6, the smallest E4M3 normal
    private const float SubnormalMagic = 8388608f; // 2^23: adding it rounds a value below 2^23 to an integer, ties to even
    private const uint SubnormalMagicBits = 0x4B00_0000;

    /// <summary>
    /// Encodes eight floats to E4M3 (one byte per uint lane), exactly as <see cref="Float8E4M3.FromSingle(float)"/>:
    /// NaN to 0x7F, +-448 and beyond (infinities too) saturate to S.1111.110, the sign is kept (-0 gives 0x80),
    /// below 2^-6 the value is rounded to a multiple of 2^-9 and above it to 3 mantissa bits, both ties to even.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> Encode(Vector256<float> value)
    {
        var bits = value.AsUInt32();
        var sign = (bits >> 24) & Vector256.Create(0x80u);
        var absBits = bits & Vector256.Create(AbsMask);
        // Integer compares on the magnitude's bits order finite magnitudes like the floats; NaN sorts above +Inf.
        var isNaN = Vector256.GreaterThan(absBits, Vector256.Create(0x7F80_0000u));
        var saturates = Vector256.GreaterThanOrEqual(absBits, Vector256.Create(MaxBits));
        var subnormal = Vector256.LessThan(absBits, Vector256.Create(MinNormalBits));
        // Normal: add the round-to-nearest-even bias for the 20 dropped mantissa bits (0x7FFFF plus the lowest kept
        // bit), shift them out (a carry moves into the exponent), then rebias the exponent from 127 to 7.
        var lsb = (absBits >> 20) & Vector256<uint>.One;
        var normal = ((absBits + Vector256.Create(0x7_FFFFu) + lsb) >> 20) - Vector256.Create((127u - 7u) << 3);
        // Subnormal: a * 2^9 is exact and below 8; adding 2^23 makes the FPU round it to an integer, ties to even,
        // and that integer is the low bits of the sum (8 being the smallest normal, 0.0001.000).
        var scaled = absBits.AsSingle() * Vector256.Create(512f) + Vector256.Create(SubnormalMagic);
        var sub = scaled.AsUInt32() - Vector256.Create(SubnormalMagicBits);
        var magnitude = Vector256.ConditionalSelect(subnormal, sub, normal);
        magnitude = Vector256.ConditionalSelect(saturates, Vector256.Create(0x7Eu), magnitude);
        return Vector256.ConditionalSelect(isNaN, Vector256.Create((uint)Float8E4M3.NaN), sign | magnitude);
    }

    /// <summary>Packs four vectors of encoded lanes (each below 256) into 32 bytes, in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Pack(Vector256<uint> a, Vector256<uint> b, Vector256<uint> c, Vector256<uint> d) =>
        Vector256.Narrow(Vector256.Narrow(a, b), Vector256.Narrow(c, d));

    /// <summary>
    /// <c>fp8[i] = FromSingle(values[i] / divisor)</c> for every i: the division (not a multiplication by the
    /// reciprocal, which rounds differently), the saturation to +-448 the clamp before the cast asks for, and the
    /// encoding, 32 elements at a time with a scalar tail.
    /// </summary>
    public static void DivideAndEncode(ReadOnlySpan<float> values, float divisor, Span<byte> fp8)
    {
        if (fp8.Length < values.Length) throw new ArgumentException("the FP8 output is shorter than the values", nameof(fp8));
        ref float src = ref MemoryMarshal.GetReference(values);
        ref byte dst = ref MemoryMarshal.GetReference(fp8);
        var d = Vector256.Create(divisor);
        int n = values.Length, i = 0;
        for (; i + 32 <= n; i += 32)
        {
            var e0 = Encode(Vector256.LoadUnsafe(ref src, (nuint)i) / d);
            var e1 = Encode(Vector256.LoadUnsafe(ref src, (nuint)(i + 8)) / d);
            var e2 = Encode(Vector256.LoadUnsafe(ref src, (nuint)(i + 16)) / d);
            var e3 = Encode(Vector256.LoadUnsafe(ref src, (nuint)(i + 24)) / d);
            Pack(e0, e1, e2, e3).StoreUnsafe(ref dst, (nuint)i);
        }
        for (; i < n; i++) fp8[i] = Float8E4M3.FromSingle(values[i] / divisor);
    }

    /// <summary>
    /// Folds the absolute maximum of <paramref name="values"/> into <paramref name="amax"/>, skipping NaN exactly as
    /// <c>if (a &gt; amax) amax = a</c> does (the compare is false for NaN). The maximum of the non-NaN magnitudes is
    /// one value whatever the order, so the result equals the scalar loop's.
    /// </summary>
    public static float AbsMax(ReadOnlySpan<float> values, float amax)
    {
        ref float src = ref MemoryMarshal.GetReference(values);
        var abs = Vector256.Create(AbsMask).AsSingle();
        var m = Vector256.Create(amax);
        int n = values.Length, i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var a = Vector256.LoadUnsafe(ref src, (nuint)i) & abs;
            m = Vector256.ConditionalSelect(Vector256.GreaterThan(a, m), a, m);
        }
        for (int lane = 0; lane < 8; lane++)
        {
            float a = m.GetElement(lane);
            if (a > amax) amax = a;
        }
        for (; i < n; i++)
        {
            float a = MathF.Abs(values[i]);
            if (a > amax) amax = a;
        }
        return amax;
    }
}
