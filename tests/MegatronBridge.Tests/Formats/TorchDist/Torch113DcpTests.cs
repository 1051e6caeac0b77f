using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchDist;

/// <summary>A DCP checkpoint written by torch 1.13 (Debian 12's PyTorch) reads like one from torch 2.x.</summary>
public class Torch113DcpTests
{
    [Fact]
    public void Torch_1_13_dcp_folder_reads_tensors()
    {
        using var checkpoint = TorchDistCheckpoint.Open(TestPaths.Golden("golden_dcp_torch113"));
        Assert.Equal(new TensorShape(3, 4), checkpoint.Get("w").Shape);
        Assert.Equal(DType.BF16, checkpoint.Get("w").DType);
        Assert.Equal(TensorFactory.BFloat16(Enumerable.Range(0, 12).Select(i => (float)i).ToArray()), checkpoint.ReadAll("w"));
        Assert.Equal(Enumerable.Range(0, 5).SelectMany(i => BitConverter.GetBytes((long)i)).ToArray(), checkpoint.ReadAll("v"));
        Assert.Contains("obj", checkpoint.ObjectKeys);
    }
}
