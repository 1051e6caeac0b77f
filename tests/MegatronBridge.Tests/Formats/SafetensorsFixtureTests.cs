using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats;

public class SafetensorsFixtureTests
{
    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void EveryFixtureOpensAndEveryTensorIsReadable(string fixture)
    {
        using var ckpt = SafetensorsCheckpoint.Open(TestPaths.Fixture(fixture));
        Assert.NotEmpty(ckpt.Tensors);
        foreach (var t in ckpt.Tensors)
        {
            var bytes = MegatronBridge.Tensors.TensorSourceExtensions.ReadAll(ckpt, t.Name);
            Assert.Equal(t.ByteLength, bytes.LongLength);
        }
    }
}
