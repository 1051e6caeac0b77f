using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Formats.Safetensors;

public class SafetensorsShardPlanTests
{
    /// <summary>U8 tensors t0, t1, ... whose byte sizes are the given numbers.</summary>
    private static List<TensorMeta> Sized(params long[] sizes) =>
        sizes.Select((s, i) => new TensorMeta($"t{i}", DType.U8, new TensorShape(s))).ToList();

    private static string[][] Groups(SafetensorsShardPlan plan) =>
        plan.Shards.Select(s => s.Tensors.Select(t => t.Name).ToArray()).ToArray();

    [Fact]
    public void GreedyInOrderLikeHuggingFaceHub()
    {
        // huggingface_hub's documented example: limit 10, sizes [6, 6, 2, 6, 2, 2] -> [6], [6+2], [6+2+2].
        var plan = SafetensorsShardPlan.BySize(Sized(6, 6, 2, 6, 2, 2), 10);
        Assert.Equal(new[] { new[] { "t0" }, new[] { "t1", "t2" }, new[] { "t3", "t4", "t5" } }, Groups(plan));
        Assert.Equal(new[] { "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors" },
            plan.Shards.Select(s => s.FileName));
        Assert.True(plan.WritesIndex);
        Assert.Equal(24, plan.TotalSize);
    }

    [Fact]
    public void ATensorExactlyAtTheLimitStillFits()
    {
        var plan = SafetensorsShardPlan.BySize(Sized(4, 6, 10), 10);
        Assert.Equal(new[] { new[] { "t0", "t1" }, new[] { "t2" } }, Groups(plan));
    }

    [Fact]
    public void AnOversizedTensorGetsItsOwnShardAheadOfTheOpenOne()
    {
        // The hub appends the oversized tensor's shard at once, while t0's shard is still open: t0 and t2 share a shard.
        var plan = SafetensorsShardPlan.BySize(Sized(3, 25, 4, 9), 10);
        Assert.Equal(new[] { new[] { "t1" }, new[] { "t0", "t2" }, new[] { "t3" } }, Groups(plan));
    }

    [Fact]
    public void EverythingInOneShardIsASingleModelFileWithoutIndex()
    {
        var plan = SafetensorsShardPlan.BySize(Sized(3, 3, 4), 10);
        var shard = Assert.Single(plan.Shards);
        Assert.Equal("model.safetensors", shard.FileName);
        Assert.False(plan.WritesIndex);
    }

    [Fact]
    public void ExplicitLayoutKeepsFilesInFirstAppearanceOrder()
    {
        var tensors = Sized(1, 2, 3, 4);
        var layout = new Dictionary<string, string> { ["t0"] = "b.safetensors", ["t1"] = "a.safetensors", ["t2"] = "b.safetensors", ["t3"] = "a.safetensors" };
        var plan = SafetensorsShardPlan.FromLayout(tensors, layout);
        Assert.Equal(new[] { "b.safetensors", "a.safetensors" }, plan.Shards.Select(s => s.FileName));
        Assert.Equal(new[] { new[] { "t0", "t2" }, new[] { "t1", "t3" } }, Groups(plan));
        Assert.True(plan.WritesIndex);
    }

    [Fact]
    public void ExplicitLayoutRejectsMissingTensorsAndUnsafeNames()
    {
        var tensors = Sized(1, 2);
        var e = Assert.Throws<ArgumentException>(() => SafetensorsShardPlan.FromLayout(tensors, new Dictionary<string, string> { ["t0"] = "a.safetensors" }));
        Assert.Contains("'t1'", e.Message);
        Assert.Throws<ArgumentException>(() => SafetensorsShardPlan.FromLayout(tensors, _ => "../outside.safetensors"));
        Assert.Throws<ArgumentException>(() => SafetensorsShardPlan.FromLayout(tensors, _ => "model.safetensors.index.json"));
    }

    [Fact]
    public void ExplicitSingleModelFileNeedsNoIndexUnlessAsked()
    {
        Assert.False(SafetensorsShardPlan.FromLayout(Sized(1, 2), _ => "model.safetensors").WritesIndex);
        Assert.True(SafetensorsShardPlan.FromLayout(Sized(1, 2), _ => "model.safetensors", alwaysWriteIndex: true).WritesIndex);
    }

    [Theory]
    [InlineData("5GB", 5_000_000_000L)]
    [InlineData("500MB", 500_000_000L)]
    [InlineData("2GiB", 2_147_483_648L)]
    [InlineData("64MiB", 67_108_864L)]
    [InlineData("10KB", 10_000L)]
    [InlineData("3kib", 3_072L)]
    [InlineData(" 5gB ", 5_000_000_000L)]
    [InlineData("8Gb", 8_000_000_000L)] // huggingface_hub upper-cases the unit: not bits
    [InlineData("1.5GB", 1_500_000_000L)]
    [InlineData("1.001MB", 1_000_999L)] // Python: int(1.001 * 10**6) truncates the double 1000999.9999999999
    [InlineData("2 TB", 2_000_000_000_000L)]
    [InlineData("1234", 1234L)]
    public void ShardSizesParseLikeTransformers(string text, long expected) => Assert.Equal(expected, ShardSize.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("GB")]
    [InlineData("1,5GB")]
    [InlineData("-1GB")]
    [InlineData("0")]
    [InlineData("0MB")]
    [InlineData("5 gigabytes")]
    [InlineData("99999999999999GiB")]
    public void BadShardSizesAreRejected(string text)
    {
        var e = Assert.Throws<InvalidInputException>(() => ShardSize.Parse(text));
        Assert.Contains(text, e.Message);
    }
}
