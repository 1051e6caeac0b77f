using MegatronBridge.Conversion;
using Xunit;

namespace MegatronBridge.Tests.Conversion;

public class NamePatternTests
{
    [Fact]
    public void StarMatchesDigitsOnly()
    {
        var p = new NamePattern("decoder.layers.*.mlp.linear_fc1.weight");
        Assert.True(p.TryMatch("decoder.layers.12.mlp.linear_fc1.weight", out var c));
        Assert.Equal("model.layers.12.mlp.gate_proj.weight", c.Fill("model.layers.*.mlp.gate_proj.weight"));
        Assert.False(p.TryMatch("decoder.layers.x.mlp.linear_fc1.weight", out _));
        Assert.False(p.TryMatch("prefix.decoder.layers.1.mlp.linear_fc1.weight", out _));
    }

    [Fact]
    public void TrailingStarCapturesTheExpertAndExtraCapturesAreIgnored()
    {
        var p = new NamePattern("decoder.layers.*.mlp.experts.linear_fc1.weight*");
        Assert.True(p.TryMatch("decoder.layers.3.mlp.experts.linear_fc1.weight17", out var c));
        Assert.Equal(17, c.LastNumber);
        Assert.Equal("model.layers.3.mlp.experts.17.gate_proj.weight", c.Fill("model.layers.*.mlp.experts.*.gate_proj.weight"));
        Assert.Equal("model.layers.3.mlp.experts.gate_up_proj", c.Fill("model.layers.*.mlp.experts.gate_up_proj"));
    }

    [Fact]
    public void DoubleStarMatchesAnything()
    {
        var p = new NamePattern("vision_model.merger.patch_norm.**");
        Assert.True(p.TryMatch("vision_model.merger.patch_norm.bias", out var c));
        Assert.Equal("model.visual.merger.norm.bias", c.Fill("model.visual.merger.norm.**"));
    }

    [Fact]
    public void LiteralsAndEndsMustMatchExactly()
    {
        var p = new NamePattern("mtp.layers.0.eh_proj.weight");
        Assert.True(p.TryMatch("mtp.layers.0.eh_proj.weight", out _));
        Assert.False(p.TryMatch("mtp.layers.1.eh_proj.weight", out _));
        Assert.False(p.TryMatch("mtp.layers.0.eh_proj.weight2", out _));
        var w = new NamePattern("a.*.b.weight*");
        Assert.False(w.TryMatch("a.1.b.weight", out _));
        Assert.False(w.TryMatch("a..b.weight3", out _));
        Assert.True(w.TryMatch("a.10.b.weight12", out var c));
        Assert.Equal(new[] { "10", "12" }, c.Singles);
    }
}
