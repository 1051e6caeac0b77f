using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;

namespace MegatronBridge.Tensors;

/// <summary>How many NaN and infinite values one floating-point tensor holds.</summary>
public sealed record NonFiniteCount(string Tensor, long NaN, long PositiveInfinity, long NegativeInfinity)
{
    public long Infinity => PositiveInfinity + NegativeInfinity;

    public override string ToString() =>
        $"{Tensor}: {NaN} NaN, {Infinity} Inf (+{PositiveInfinity} / -{NegativeInfinity})";
}

/// <summary>
/// Counts NaN / Inf values in the floating-point tensors of a source, streaming each tensor through one bounded
/// buffer. Non-finite weights are legal (a conversion must copy them faithfully) but are almost always a sign of a
/// broken training run, so the CLI warns about them.
/// </summary>
internal static class NonFiniteScan
{
    public const int DefaultBufferBytes = 4 << 20;

    public static IReadOnlyList<NonFiniteCount> Scan(ITensorSource source, int bufferBytes = DefaultBufferBytes)
    {
        var found = new List<NonFiniteCount>();
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(bufferBytes, 64));
        try
        {
            foreach (var meta in source.Tensors)
            {
                if (!IsScanned(meta.DType)) continue;
                var count = ScanTensor(source, meta, buffer);
                if (count.NaN + count.Infinity > 0) found.Add(count);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return found;
    }

    private static NonFiniteCount ScanTensor(ITensorSource source, TensorMeta meta, byte[] buffer)
    {
        int size = meta.DType.Size();
        int step = buffer.Length / size * size;
        var counts = new long[3]; // NaN, +Inf, -Inf
        for (long offset = 0; offset < meta.ByteLength; offset += step)
        {
            var span = buffer.AsSpan(0, (int)Math.Min(step, meta.ByteLength - offset));
            source.Read(meta.Name, offset, span);
            CountSpan(meta.DType, span, counts);
        }
        return new NonFiniteCount(meta.Name, counts[0], counts[1], counts[2]);
    }

    /// <summary>Whether <see cref="CountSpan"/> understands the dtype (the floating-point ones with an exponent).</summary>
    public static bool IsScanned(DType dtype) => dtype is DType.BF16 or DType.F16 or DType.F32 or DType.F64;

    /// <summary>
    /// Adds the NaN, +Inf and -Inf values of whole elements in <paramref name="bytes"/> to <paramref name="counts"/>
    /// (three entries, in that order).
    /// </summary>
    public static void CountSpan(DType dtype, ReadOnlySpan<byte> bytes, long[] counts)
    {
        // Values are little-endian on disk; the hosts this runs on are little-endian too.
        switch (dtype)
        {
            case DType.BF16: Count(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7F80, (ushort)0x007F, (ushort)0x8000, counts); break;
            case DType.F16: Count(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7C00, (ushort)0x03FF, (ushort)0x8000, counts); break;
            case DType.F32: Count(MemoryMarshal.Cast<byte, uint>(bytes), 0x7F80_0000u, 0x007F_FFFFu, 0x8000_0000u, counts); break;
            case DType.F64: Count(MemoryMarshal.Cast<byte, ulong>(bytes), 0x7FF0_0000_0000_0000ul, 0x000F_FFFF_FFFF_FFFFul, 0x8000_0000_0000_0000ul, counts); break;
            default: throw new ArgumentException($"{dtype} has no NaN or infinity", nameof(dtype));
        }
    }

    /// <summary>
    /// An all-ones exponent is non-finite: NaN with a mantissa, infinity (signed) without. Whole vectors of finite
    /// values (all of them in healthy weights) are skipped with one SIMD compare, so scanning keeps up with the disk.
    /// </summary>
    private static void Count<T>(ReadOnlySpan<T> values, T exponentMask, T mantissaMask, T signBit, long[] counts)
        where T : unmanaged, IBinaryInteger<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<T>.Count)
        {
            var mask = new Vector<T>(exponentMask);
            var vectors = MemoryMarshal.Cast<T, Vector<T>>(values);
            for (int v = 0; v < vectors.Length; v++)
            {
                if (!Vector.EqualsAny(vectors[v] & mask, mask)) continue;
                CountScalar(values.Slice(v * Vector<T>.Count, Vector<T>.Count), exponentMask, mantissaMask, signBit, counts);
            }
            i = vectors.Length * Vector<T>.Count;
        }
        CountScalar(values[i..], exponentMask, mantissaMask, signBit, counts);
    }

    private static void CountScalar<T>(ReadOnlySpan<T> values, T exponentMask, T mantissaMask, T signBit, long[] counts)
        where T : unmanaged, IBinaryInteger<T>
    {
        foreach (var bits in values)
        {
            if ((bits & exponentMask) != exponentMask) continue;
            if ((bits & mantissaMask) != T.Zero) counts[0]++;
            else if ((bits & signBit) != T.Zero) counts[2]++;
            else counts[1]++;
        }
    }
}
