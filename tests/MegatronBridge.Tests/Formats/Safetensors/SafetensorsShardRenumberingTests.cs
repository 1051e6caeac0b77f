using MegatronBridge.Formats.Safetensors;
using Xunit;

namespace MegatronBridge.Tests.Formats.Safetensors;

/// <summary>Renaming the files of a reused shard layout when some of them receive no tensor.</summary>
public class SafetensorsShardRenumberingTests
{
    private static readonly string[] Three =
        { "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors" };

    [Fact]
    public void TheFilesLeftAreNumberedOneToMOfMInTheirOriginalOrder()
    {
        var renamed = SafetensorsShardPlan.Renumbered(Three, new[] { Three[2], Three[0] });
        Assert.Equal(2, renamed.Count);
        Assert.Equal("model-00001-of-00002.safetensors", renamed[Three[0]]);
        Assert.Equal("model-00002-of-00002.safetensors", renamed[Three[2]]);
    }

    [Fact]
    public void OneFileLeftIsOneOfOne()
    {
        var renamed = SafetensorsShardPlan.Renumbered(Three, new[] { Three[1] });
        Assert.Equal("model-00001-of-00001.safetensors", Assert.Single(renamed, p => p.Key == Three[1]).Value);
        Assert.Single(renamed);
    }

    [Fact]
    public void EveryFileUsedKeepsItsName()
    {
        Assert.Empty(SafetensorsShardPlan.Renumbered(Three, Three));
    }

    [Fact]
    public void FilesNamedOtherwiseKeepTheirNames()
    {
        var custom = new[] { "part-a.safetensors", "part-b.safetensors", "part-c.safetensors" };
        Assert.Empty(SafetensorsShardPlan.Renumbered(custom, new[] { custom[0] }));
        // Numbered, but not 1..N of N (a file of the series is missing from the layout).
        var gap = new[] { "model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors" };
        Assert.Empty(SafetensorsShardPlan.Renumbered(gap, new[] { gap[0] }));
    }
}
