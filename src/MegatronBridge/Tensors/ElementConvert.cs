using System.Runtime.InteropServices;

namespace MegatronBridge.Tensors;

/// <summary>Element conversions between floating dtypes, rounding to nearest even as PyTorch does.</summary>
internal static class ElementConvert
{
    public static float BFloat16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    public static ushort SingleToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040);
        uint roundingBias = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>Reads <paramref name="count"/> elements of <paramref name="dtype"/> as float32.</summary>
    public static void ToSingle(ReadOnlySpan<byte> src, DType dtype, Span<float> dst)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(src).CopyTo(dst);
                break;
            case DType.BF16:
            {
                var s = MemoryMarshal.Cast<byte, ushort>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = BFloat16ToSingle(s[i]);
                break;
            }
            case DType.F16:
            {
                var s = MemoryMarshal.Cast<byte, Half>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)s[i];
                break;
            }
            case DType.F64:
            {
                var s = MemoryMarshal.Cast<byte, double>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)s[i];
                break;
            }
            default:
                throw new NotSupportedException($"cannot convert {dtype} elements to float32");
        }
    }

    /// <summary>Writes float32 values as <paramref name="dtype"/>, rounding to nearest even.</summary>
    public static void FromSingle(ReadOnlySpan<float> src, DType dtype, Span<byte> dst)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.Cast<float, byte>(src).CopyTo(dst);
                break;
            case DType.BF16:
            {
                var d = MemoryMarshal.Cast<byte, ushort>(dst);
                for (int i = 0; i < src.Length; i++) d[i] = SingleToBFloat16(src[i]);
                break;
            }
            case DType.F16:
            {
                var d = MemoryMarshal.Cast<byte, Half>(dst);
                for (int i = 0; i < src.Length; i++) d[i] = (Half)src[i];
                break;
            }
            case DType.F64:
            {
                var d = MemoryMarshal.Cast<byte, double>(dst);
                for (int i = 0; i < src.Length; i++) d[i] = src[i];
                break;
            }
            default:
                throw new NotSupportedException($"cannot convert float32 elements to {dtype}");
        }
    }

    public static void Apply(ElementOp op, Span<float> values)
    {
        switch (op)
        {
            case ElementOp.None: break;
            case ElementOp.SubtractOne:
                for (int i = 0; i < values.Length; i++) values[i] -= 1f;
                break;
            case ElementOp.AddOne:
                for (int i = 0; i < values.Length; i++) values[i] += 1f;
                break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    /// <summary>Reads a whole tensor as float32 (for the reference forward and tests).</summary>
    public static float[] ReadFloats(ITensorSource source, string name)
    {
        var meta = source.Get(name);
        var bytes = source.ReadAll(name);
        var result = new float[meta.NumElements];
        ToSingle(bytes, meta.DType, result);
        return result;
    }
}
