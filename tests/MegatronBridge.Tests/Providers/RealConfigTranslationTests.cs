using MegatronBridge.Config;
using MegatronBridge.Models;
using MegatronBridge.Providers;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Providers;

/// <summary>Real-size configs translate to the published geometry (expected values from the model cards / config files).</summary>
public class RealConfigTranslationTests
{
    private static GptModelProvider Translate(string realConfig, out BridgeRegistration bridge)
    {
        var cfg = HfConfig.Load(Path.Combine(TestPaths.Fixture("real-configs"), realConfig));
        (bridge, var provider) = BridgeRegistry.CreateProvider(cfg);
        return provider;
    }

    private static readonly DecoderLayerKind[] ThreeGdnOneAttention =
        { DecoderLayerKind.GatedDeltaNet, DecoderLayerKind.GatedDeltaNet, DecoderLayerKind.GatedDeltaNet, DecoderLayerKind.Attention };

    [Fact]
    public void Qwen36_27B()
    {
        var p = Assert.IsType<Qwen35VLModelProvider>(Translate("qwen3.6-27b.config.json", out var bridge));
        Assert.Equal("Qwen35VLBridge", bridge.BridgeName);
        Assert.Equal(64, p.NumLayers);
        Assert.Equal(Enumerable.Repeat(ThreeGdnOneAttention, 16).SelectMany(x => x), p.DecoderLayerKinds);
        Assert.Equal(5120, p.HiddenSize);
        Assert.Equal(24, p.NumAttentionHeads);
        Assert.Equal(4, p.NumQueryGroups);
        Assert.Equal(256, p.KvChannels);
        Assert.Equal(17408, p.FfnHiddenSize);
        Assert.Equal(248320, p.VocabSize);
        Assert.Equal(16, p.LinearNumKeyHeads);
        Assert.Equal(48, p.LinearNumValueHeads);
        Assert.Equal(128, p.LinearKeyHeadDim);
        Assert.Equal(128, p.LinearValueHeadDim);
        Assert.Equal(4, p.LinearConvKernelDim);
        // Conv channels 2 * 16 * 128 + 48 * 128.
        Assert.Equal(10240, p.LinearConvChannels);
        Assert.Equal(1e7, p.RotaryBase);
        Assert.Equal(0.25, p.RotaryPercent);
        Assert.Equal(new[] { 11, 11, 10 }, p.MropeSection);
        Assert.Equal(262144, p.SeqLength);
        Assert.False(p.IsMoe);
        Assert.False(p.IsMoeLayer(0));
        Assert.Equal(1, p.MtpLayers);
        Assert.False(p.ShareEmbeddingsAndOutputWeights);
        Assert.True(p.AttentionOutputGate);
        Assert.True(p.LayernormZeroCenteredGamma);
        Assert.False(p.AddQkvBias);
        Assert.Equal(248044, p.BosTokenId);
        Assert.Equal(248044, p.EosTokenId);
        Assert.Equal("bfloat16", p.ParamsDtype);
        Assert.True(p.HasVision);
        var v = p.Vision!;
        Assert.Equal((27, 1152, 16, 4304, 5120), (v.NumLayers, v.HiddenSize, v.NumAttentionHeads, v.FfnHiddenSize, v.OutHiddenSize));
        Assert.Equal((16, 2, 2, 3, 2304), (v.PatchSize, v.TemporalPatchSize, v.SpatialMergeSize, v.InChannels, v.NumPositionEmbeddings));
        Assert.Empty(v.DeepstackVisualIndexes);
        Assert.Equal(72, v.KvChannels);
    }

    [Fact]
    public void Qwen35_35B_A3B()
    {
        var p = Assert.IsType<Qwen35VLMoEModelProvider>(Translate("qwen3.5-35b-a3b.config.json", out var bridge));
        Assert.Equal("Qwen35VLMoEBridge", bridge.BridgeName);
        Assert.Equal(40, p.NumLayers);
        Assert.Equal(Enumerable.Repeat(ThreeGdnOneAttention, 10).SelectMany(x => x), p.DecoderLayerKinds);
        Assert.Equal((2048, 16, 2, 256), (p.HiddenSize, p.NumAttentionHeads, p.NumQueryGroups, p.KvChannels));
        Assert.Equal((16, 32), (p.LinearNumKeyHeads, p.LinearNumValueHeads));
        Assert.True(p.IsMoe);
        Assert.Equal((256, 8, 512, 512), (p.NumMoeExperts, p.MoeRouterTopk, p.MoeFfnHiddenSize, p.MoeSharedExpertIntermediateSize));
        Assert.All(Enumerable.Range(0, 40), i => Assert.True(p.IsMoeLayer(i)));
        Assert.Equal(248046, p.EosTokenId);
        Assert.Equal(2048, p.Vision!.OutHiddenSize);
        Assert.True(p.HasSharedExperts);
        Assert.Equal((8, 2), (p.QueryHeadsPerGroup, p.ValueHeadsPerKeyHead));
        Assert.Equal(DecoderLayerKind.Attention, p.MtpLayerKind);
        Assert.True(p.MtpLayerIsMoe);
    }

    [Fact]
    public void Qwen35_397B_A17B()
    {
        var p = Assert.IsType<Qwen35VLMoEModelProvider>(Translate("qwen3.5-397b-a17b.config.json", out _));
        Assert.Equal(60, p.NumLayers);
        Assert.Equal(15, p.DecoderLayerKinds.Count(k => k == DecoderLayerKind.Attention));
        Assert.Equal((4096, 32, 2, 256), (p.HiddenSize, p.NumAttentionHeads, p.NumQueryGroups, p.KvChannels));
        Assert.Equal((16, 64), (p.LinearNumKeyHeads, p.LinearNumValueHeads));
        Assert.Equal((512, 10, 1024, 1024), (p.NumMoeExperts, p.MoeRouterTopk, p.MoeFfnHiddenSize, p.MoeSharedExpertIntermediateSize));
        Assert.Equal("global_aux_loss", p.MoeRouterLoadBalancingType);
        Assert.True(p.MoeSharedExpertGate);
    }

    [Fact]
    public void Qwen3VL_30B_A3B()
    {
        var cfg = HfConfig.Parse(Qwen3Vl30BA3BConfig.Json, "qwen3-vl-30b-a3b/config.json");
        var (bridge, provider) = BridgeRegistry.CreateProvider(cfg);
        var p = Assert.IsType<Qwen3VLMoEModelProvider>(provider);
        Assert.Equal("Qwen3VLMoEBridge", bridge.BridgeName);
        Assert.Equal(48, p.NumLayers);
        Assert.All(p.DecoderLayerKinds, k => Assert.Equal(DecoderLayerKind.Attention, k));
        Assert.Equal((2048, 32, 4, 128, 128), (p.HiddenSize, p.NumAttentionHeads, p.NumQueryGroups, p.KvChannels, p.HeadDim));
        Assert.Equal((128, 8, 768), (p.NumMoeExperts, p.MoeRouterTopk, p.MoeFfnHiddenSize));
        Assert.Null(p.MoeSharedExpertIntermediateSize);
        Assert.Equal(151936, p.VocabSize);
        Assert.Equal(5e6, p.RotaryBase);
        Assert.Equal(1.0, p.RotaryPercent);
        Assert.Equal(new[] { 24, 20, 20 }, p.MropeSection);
        Assert.False(p.AttentionOutputGate);
        Assert.False(p.LayernormZeroCenteredGamma);
        Assert.Equal(0, p.MtpLayers);
        Assert.Equal((151643, 151645), (p.BosTokenId, p.EosTokenId));
        var v = p.Vision!;
        Assert.Equal((27, 1152, 16, 4304, 2048, 16), (v.NumLayers, v.HiddenSize, v.NumAttentionHeads, v.FfnHiddenSize, v.OutHiddenSize, v.PatchSize));
        Assert.Equal(new[] { 8, 16, 24 }, v.DeepstackVisualIndexes);
        Assert.Equal(4 * 1152, v.MergedHiddenSize);
    }
}
