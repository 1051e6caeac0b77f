using MegatronBridge.Config;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Reference;

public class ModelLoadingTests
{
    [Fact]
    public void StreamedLayers_GiveTheSameLogits_AsResidentWeights()
    {
        var folder = TestPaths.Fixture("qwen35-text-moe-tiny");
        var ids = new[] { 3, 14, 15, 92, 65, 35 };
        using var resident = ReferenceModel.LoadHf(folder);
        using var streamed = ReferenceModel.LoadHf(folder, streamLayers: true);
        Assert.Equal(resident.Forward(ids), streamed.Forward(ids));
    }

    [Fact]
    public void RealQwen36Config_GivesHybridLayout_PartialRotary_AndInterleavedMrope()
    {
        var config = ReferenceConfig.FromHf(HfConfig.Load(TestPaths.Fixture("real-configs/qwen3.6-27b.config.json")));
        Assert.Equal(ModelFamily.Qwen35, config.Family);
        Assert.Equal(RmsNormStyle.ZeroCentered, config.NormStyle);
        Assert.True(config.AttentionOutputGate);
        Assert.Equal(new[] { 11, 11, 10 }, config.MropeSection);
        Assert.True(config.MropeInterleaved);
        Assert.Equal((int)(config.HeadDim * 0.25) / 2, config.RotaryFrequencies);
        // Every fourth layer is full attention.
        Assert.Equal(Enumerable.Range(0, config.Layers).Select(i => (i + 1) % 4 != 0), config.LinearAttentionLayers);
    }

    [Fact]
    public void Qwen3VlMoeConfig_ReadsNumLocalExperts_AndPlainNorms()
    {
        var config = ReferenceConfig.FromHf(HfConfig.LoadFromFolder(TestPaths.Fixture("qwen3-vl-moe-tiny")));
        Assert.Equal(ModelFamily.Qwen3VL, config.Family);
        Assert.Equal(RmsNormStyle.Plain, config.NormStyle);
        Assert.False(config.AttentionOutputGate);
        Assert.Equal(2, config.NumExpertsPerToken);
        Assert.Equal(24, config.MoeIntermediate);
        Assert.Equal(16, config.RotaryFrequencies);
        Assert.Equal(new[] { 0 }, config.Vision!.DeepstackIndexes);
    }

    [Fact]
    public void ImageTokenCountMismatch_IsReported()
    {
        var folder = TestPaths.Fixture("qwen35-vl-dense-tiny");
        var image = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)).Single(c => c.Name == "image");
        using var model = ReferenceModel.LoadHf(folder);
        int imageToken = HfConfig.LoadFromFolder(folder).ImageTokenId!.Value;
        int first = Array.IndexOf(image.InputIds, imageToken);
        var ids = image.InputIds.Where((_, i) => i != first).ToArray(); // one image token fewer
        var e = Assert.Throws<InvalidDataException>(() => model.Forward(ids, image.Image));
        Assert.Contains("3 image tokens", e.Message);
    }
}
