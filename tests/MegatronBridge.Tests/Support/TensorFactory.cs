using System.Runtime.InteropServices;
using MegatronBridge.Tensors;

namespace MegatronBridge.Tests.Support;

/// <summary>Tiny tensors whose elements say where they came from, for hand-checkable mapping tests.</summary>
public static class TensorFactory
{
    /// <summary>An I32 tensor whose element i (row-major) is <paramref name="start"/> + i.</summary>
    public static (TensorMeta Meta, byte[] Data) Iota(string name, int start, params long[] shape)
    {
        var meta = new TensorMeta(name, DType.I32, new TensorShape(shape));
        var values = Enumerable.Range(start, checked((int)meta.NumElements)).ToArray();
        return (meta, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    public static int[] Ints(byte[] data) => MemoryMarshal.Cast<byte, int>(data).ToArray();

    public static byte[] BFloat16(params float[] values)
    {
        var bits = values.Select(ElementConvert.SingleToBFloat16).ToArray();
        return MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
    }
}
