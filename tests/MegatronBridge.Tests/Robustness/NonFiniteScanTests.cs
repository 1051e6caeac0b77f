using System.Buffers.Binary;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

public class NonFiniteScanTests
{
    private static byte[] Bits16(params ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), values[i]);
        return bytes;
    }

    private static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    [Fact]
    public void CountsNaNAndSignedInfinityPerDType()
    {
        var source = new MemoryTensorSource()
            // bf16: NaN 0x7FC1, +Inf 0x7F80, -Inf 0xFF80, max finite 0x7F7F, -0 0x8000
            .Add("bf16", DType.BF16, new TensorShape(5), Bits16(0x7FC1, 0x7F80, 0xFF80, 0x7F7F, 0x8000))
            // f16: NaN 0x7E00, -Inf 0xFC00, 65504 = 0x7BFF (finite)
            .Add("f16", DType.F16, new TensorShape(3), Bits16(0x7E00, 0xFC00, 0x7BFF))
            .Add("f32", DType.F32, new TensorShape(4), Floats(float.NaN, float.NaN, float.PositiveInfinity, float.MaxValue))
            .Add("finite", DType.F32, new TensorShape(2), Floats(1f, -2f))
            .Add("ints", DType.I32, new TensorShape(2), new byte[] { 0x00, 0x00, 0x80, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF });
        var found = NonFiniteScan.Scan(source).ToDictionary(c => c.Tensor);
        Assert.Equal(new[] { "bf16", "f16", "f32" }, found.Keys.Order());
        Assert.Equal((1L, 1L, 1L), (found["bf16"].NaN, found["bf16"].PositiveInfinity, found["bf16"].NegativeInfinity));
        Assert.Equal((1L, 0L, 1L), (found["f16"].NaN, found["f16"].PositiveInfinity, found["f16"].NegativeInfinity));
        Assert.Equal((2L, 1L, 0L), (found["f32"].NaN, found["f32"].PositiveInfinity, found["f32"].NegativeInfinity));
    }

    [Fact]
    public void SmallBuffersCountTheSameAcrossBlockEdges()
    {
        var values = Enumerable.Range(0, 1000).Select(i => i % 7 == 0 ? float.NaN : i % 11 == 0 ? float.NegativeInfinity : i).ToArray();
        var source = new MemoryTensorSource().Add("w", DType.F32, new TensorShape(1000), Floats(values));
        var count = Assert.Single(NonFiniteScan.Scan(source, bufferBytes: 68));
        Assert.Equal(values.Count(float.IsNaN), count.NaN);
        Assert.Equal(values.Count(float.IsNegativeInfinity), count.NegativeInfinity);
    }
}
