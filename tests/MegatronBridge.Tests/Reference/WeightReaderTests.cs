using MegatronBridge.IO;
using MegatronBridge.Reference;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Reference;

public class WeightReaderTests
{
    [Fact]
    public void ChunkedRead_OfATensorLargerThanOneChunk_EqualsWholeConversion()
    {
        // 3M bf16 values (6 MB) span two 4 MB chunks.
        const int n = 3_000_000;
        var bytes = new byte[n * 2];
        for (int i = 0; i < n; i++)
        {
            ushort bits = ElementConvert.SingleToBFloat16(i % 256 - 128); // integers of 8 bits are exact in bf16
            bytes[2 * i] = (byte)bits;
            bytes[2 * i + 1] = (byte)(bits >> 8);
        }
        var source = new MemoryTensorSource().Add("w", DType.BF16, new TensorShape(3000, 1000), bytes);
        Assert.Equal(ElementConvert.ReadFloats(source, "w"), WeightReader.ReadFloats(source, "w"));
        var part = WeightReader.ReadFloats(source, "w", 2_999_000, 1000);
        Assert.Equal(2_999_000 % 256 - 128, part[0]);
        Assert.Equal(2_999_999 % 256 - 128, part[999]);
    }

    [Fact]
    public void RangeOutsideTheTensor_IsReportedWithItsName()
    {
        var source = new MemoryTensorSource("mem").Add("w", DType.F32, new TensorShape(4), new byte[16]);
        var e = Assert.Throws<InvalidInputException>(() => WeightReader.ReadFloats(source, "w", 2, 3));
        Assert.Contains("'w'", e.Message);
    }
}
