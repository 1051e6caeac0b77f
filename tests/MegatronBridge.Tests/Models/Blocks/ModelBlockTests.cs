using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Models.Blocks;
using MegatronBridge.Models.Qwen35;
using MegatronBridge.Models.Qwen3VL;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Models.Blocks;

/// <summary>
/// The module blocks build the parameters a provider asks for, each with the torch_dist layout megatron-core gives it;
/// expected names, shapes and sections are worked out by hand from the sizes.
/// </summary>
public class ModelBlockTests
{
    /// <summary>A small LM-only provider: hidden 8, ffn 12, RMSNorm, no linear biases.</summary>
    private static GptModelProvider Small(bool gated) => new()
    {
        NumLayers = 2, HiddenSize = 8, NumAttentionHeads = 2, VocabSize = 16, FfnHiddenSize = 12,
        GatedLinearUnit = gated, AddBiasLinear = false, Normalization = "RMSNorm",
    };

    private static (ModuleTree Tree, DistKeyPlan Plan) MlpOfLayer1(GptModelProvider p)
    {
        var tree = new ModuleTree();
        Mlp.Add(TransformerBlock.Layer(tree.Scope(""), 1, p.NumLayers, heterogeneousDistCheckpoint: true), MlpSpec.Of(p));
        return (tree, DistKeyPlanner.Plan(tree.Parameters, _ => DType.BF16, new DistKeyOptions()));
    }

    private static GptModelProvider FixtureProvider(string fixture) =>
        BridgeRegistry.CreateProvider(HfConfig.LoadFromFolder(TestPaths.Fixture(fixture))).Provider;

    [Fact]
    public void ANonGatedMlpHasFfnRowsInFc1AndOneTorchDistChunk()
    {
        var (tree, plan) = MlpOfLayer1(Small(gated: false));
        Assert.Equal(new[]
        {
            "decoder.layers.1.mlp.linear_fc1.layer_norm_weight [8]",
            "decoder.layers.1.mlp.linear_fc1.weight [12, 8]",
            "decoder.layers.1.mlp.linear_fc2.weight [8, 12]",
        }, tree.Parameters.Select(p => $"{p.Name} [{string.Join(", ", p.Shape.ToArray())}]"));

        var fc1 = plan.Tensors.Single(k => k.Key == "decoder.layers.1.mlp.linear_fc1.weight");
        Assert.Equal(new long[] { 12, 8 }, fc1.GlobalShape);
        var chunk = Assert.Single(fc1.Chunks);
        Assert.Equal(new long[] { 0, 0 }, chunk.Offsets);
        Assert.Equal(new long[] { 12, 8 }, chunk.Sizes);
        Assert.Equal((0L, 12L), (chunk.RowStart, chunk.RowCount));
        Assert.Null(chunk.IndexHint);
    }

    [Fact]
    public void AGatedMlpHasTwiceTheFfnRowsInFc1StoredAsTwoHalvesOfOneKey()
    {
        var (tree, plan) = MlpOfLayer1(Small(gated: true));
        Assert.Equal(new TensorShape(24, 8), tree.Parameters.Single(p => p.Name == "decoder.layers.1.mlp.linear_fc1.weight").Shape);
        var fc1 = plan.Tensors.Single(k => k.Key == "decoder.layers.1.mlp.linear_fc1.weight");
        Assert.Equal(new long[] { 24, 8 }, fc1.GlobalShape);
        Assert.Equal(new[] { "0,0 12,8 hint 0", "12,0 12,8 hint 1" },
            fc1.Chunks.Select(c => $"{string.Join(",", c.Offsets)} {string.Join(",", c.Sizes)} hint {c.IndexHint}"));
    }

    [Fact]
    public void NonGatedMoeExpertsSharedExpertsAndMtpHaveOneChunkFc1s()
    {
        // qwen35-vl-moe-tiny: hidden 64, 8 experts of 24, shared expert 40, one MoE MTP layer.
        var p = FixtureProvider("qwen35-vl-moe-tiny") with { GatedLinearUnit = false };
        var fc1s = Qwen35ModelTree.Build(p, ModelPrefixes.VlMegatronLanguage).Where(x => x.Name.Contains("linear_fc1.weight", StringComparison.Ordinal)
            && x.Name.StartsWith("language_model.", StringComparison.Ordinal)).ToList();
        Assert.Equal(8 * 9 + 9, fc1s.Count); // 8 layers and MTP: 8 experts + 1 shared expert each
        Assert.All(fc1s.Where(x => x.Name.Contains(".experts.", StringComparison.Ordinal)), x => Assert.Equal(new TensorShape(24, 64), x.Shape));
        Assert.All(fc1s.Where(x => x.Name.Contains(".shared_experts.", StringComparison.Ordinal)), x => Assert.Equal(new TensorShape(40, 64), x.Shape));
        Assert.All(fc1s, x => Assert.Equal(DistRows.Whole, x.Dist!.Rows));
    }

    [Fact]
    public void TheGatedDeltaNetBlockDescribesInProjAndConv1dSectionsFromTheProvider()
    {
        // qwen35-vl-dense-tiny: hidden 64, 4 key heads of 16 (qk = 64), 8 value heads of 16 (v = 128), kernel 4;
        // per-layer keys (hetereogenous_dist_checkpoint).
        var p = FixtureProvider("qwen35-vl-dense-tiny");
        var parameters = Qwen35ModelTree.Build(p, ModelPrefixes.VlMegatronLanguage).ToDictionary(x => x.Name);
        var inProj = parameters["language_model.decoder.layers.0.self_attention.in_proj.weight"];
        Assert.Equal(new TensorShape(400, 64), inProj.Shape);
        Assert.Equal(new DistLayout("language_model.decoder.layers.0.self_attention.in_proj.weight", Array.Empty<DistAxis>(),
            DistRows.NamedSections(new("query", 64), new("key", 64), new("value", 128), new("z", 128), new("beta", 8), new("alpha", 8))), inProj.Dist);
        var conv = parameters["language_model.decoder.layers.2.self_attention.conv1d.weight"];
        Assert.Equal(new TensorShape(256, 1, 4), conv.Shape);
        Assert.Equal(DistRows.NamedSections(new("query", 64), new("key", 64), new("value", 128)), conv.Dist!.Rows);
        // Layer 3 is full attention: no GDN parameters there.
        Assert.DoesNotContain("language_model.decoder.layers.3.self_attention.in_proj.weight", parameters.Keys);
    }

    [Fact]
    public void Qwen3VlStacksLanguageLayersVisionLayersDeepstackMergersAndExperts()
    {
        // qwen3-vl-moe-tiny: 4 decoder layers of 8 experts, 2 vision layers, one deepstack merger.
        var p = FixtureProvider("qwen3-vl-moe-tiny");
        var parameters = Qwen3VLModelTree.Build(p, ModelPrefixes.VlMegatronLanguage).ToDictionary(x => x.Name);
        Assert.Equal(new DistLayout("language_model.decoder.layers.mlp.experts.linear_fc1.weight", new DistAxis[] { new(2, 4), new(5, 8) }, DistRows.GatedHalves),
            parameters["language_model.decoder.layers.2.mlp.experts.linear_fc1.weight5"].Dist);
        Assert.Equal(new DistLayout("vision_model.decoder.layers.mlp.linear_fc1.weight", new DistAxis[] { new(1, 2) }, DistRows.Whole),
            parameters["vision_model.decoder.layers.1.mlp.linear_fc1.weight"].Dist);
        Assert.Equal(new DistLayout("vision_model.decoder.deepstack_merger_list.linear_fc1.weight", new DistAxis[] { new(0, 1) }, DistRows.Whole),
            parameters["vision_model.decoder.deepstack_merger_list.0.linear_fc1.weight"].Dist);
        Assert.Equal(new DistLayout("vision_model.merger.linear_fc1.weight", Array.Empty<DistAxis>(), DistRows.Whole),
            parameters["vision_model.merger.linear_fc1.weight"].Dist);
    }

    [Fact]
    public void TheVisionTowerPinsItsParametersToTheFirstPipelineStage_TheLanguageModelPinsNone()
    {
        // qwen35-vl-dense-tiny: the vision tower (patch embed, pos embed, 2 blocks, merger) and the language model.
        var p = FixtureProvider("qwen35-vl-dense-tiny");
        var parameters = Qwen35ModelTree.Build(p, ModelPrefixes.VlMegatronLanguage);
        var vision = parameters.Where(x => x.Name.StartsWith("vision_model.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(vision);
        Assert.All(vision, x => Assert.Equal(PipelineStage.First, x.Stage));
        Assert.All(parameters.Except(vision), x => Assert.Null(x.Stage));
    }

    [Fact]
    public void TheQwen3VlTreeRefusesMtpLayers()
    {
        var p = FixtureProvider("qwen3-vl-moe-tiny") with { MtpNumLayers = 1 };
        var ex = Assert.Throws<InvalidInputException>(() => Qwen3VLModelTree.Build(p, ModelPrefixes.VlMegatronLanguage));
        Assert.Contains("1 MTP layer(s)", ex.Message);
    }
}
