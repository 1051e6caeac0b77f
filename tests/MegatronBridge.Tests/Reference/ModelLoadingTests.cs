using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Models.Qwen35;
using MegatronBridge.Models.Qwen3VL;
using MegatronBridge.Tensors;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Reference;

public class ModelLoadingTests
{
    [Fact]
    public void Forward_ReadsTheTokensEmbeddingRows_TheOutputLayerOnce_AndOnlyRoutedExperts()
    {
        var folder = TestPaths.Fixture("qwen35-text-moe-tiny"); // 8 layers, 8 experts, top 2, untied, hidden 64
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        var counting = new CountingTensorSource(checkpoint);
        using var model = ReferenceModel.FromSource(HfConfig.LoadFromFolder(folder), counting);
        counting.Reset(); // loading checks every layer and reads its norms; the forward is what is counted
        var ids = new[] { 3, 14, 15 };
        var logits = model.Forward(ids);

        var embedding = checkpoint.Get("model.embed_tokens.weight");
        long rowBytes = embedding.ByteLength / embedding.Shape[0];
        Assert.Equal(ids.Length * rowBytes, counting.BytesRead("model.embed_tokens.weight"));
        Assert.Equal(checkpoint.Get("lm_head.weight").ByteLength, counting.BytesRead("lm_head.weight"));
        for (int layer = 0; layer < 8; layer++)
        {
            var read = Enumerable.Range(0, 8).Where(e => counting.BytesRead($"model.layers.{layer}.mlp.experts.{e}.down_proj.weight") > 0).ToList();
            // 3 tokens route to at most 6 experts; each routed expert is read once, whatever number of tokens chose it.
            Assert.InRange(read.Count, 2, 6);
            foreach (int e in read)
                Assert.Equal(checkpoint.Get($"model.layers.{layer}.mlp.experts.{e}.down_proj.weight").ByteLength, counting.BytesRead($"model.layers.{layer}.mlp.experts.{e}.down_proj.weight"));
        }
        Assert.True(counting.TotalBytesRead < checkpoint.Tensors.Sum(t => t.ByteLength));

        // And the numbers are those of a plain forward over the folder.
        using var plain = ReferenceModel.LoadHf(folder);
        Assert.Equal(plain.Forward(ids), logits);
    }

    [Fact]
    public void RealQwen36Config_GivesHybridLayout_PartialRotary_AndInterleavedMrope()
    {
        var config = ReferenceConfig.FromHf(HfConfig.Load(TestPaths.Fixture("real-configs/qwen3.6-27b.config.json")));
        Assert.Same(Qwen35Reference.Traits, config.Traits);
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
        Assert.Same(Qwen3VLReference.Traits, config.Traits);
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
        var e = Assert.Throws<InvalidInputException>(() => model.Forward(ids, image.Image));
        Assert.Contains("3 image tokens", e.Message);
    }
}
