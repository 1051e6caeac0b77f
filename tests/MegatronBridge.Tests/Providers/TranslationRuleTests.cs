using System.Text.Json.Nodes;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Providers;
using Xunit;

namespace MegatronBridge.Tests.Providers;

/// <summary>The individual rules of Megatron-Bridge's Qwen config translation on small variations of the fixture
/// configs.</summary>
public class TranslationRuleTests
{
    private static GptModelProvider Provider(JsonObject config) => BridgeRegistry.CreateProvider(ConfigBuilder.Parse(config)).Provider;

    [Fact]
    public void IntFullAttentionIntervalIsExpandedToTheLayerList()
    {
        // transformers' Qwen3.5 text config turns full_attention_interval into layer_types, which Megatron-Bridge reads.
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config.Remove("layer_types");
        config["full_attention_interval"] = 2;
        var p = Provider(config);
        Assert.Null(p.LinearAttentionFreq!.Interval);
        Assert.Equal(new[] { 1, 0, 1, 0, 1, 0, 1, 0 }, p.LinearAttentionFreq.Pattern);
        Assert.Equal("G A G A G A G A", p.LayerLayout);
        Assert.Equal("[1,0,1,0,1,0,1,0]", ProviderJson.ToJson(p)["linear_attention_freq"]!.ToJsonString());
    }

    [Fact]
    public void NeitherLayerTypesNorIntervalGivesEveryFourthLayerAsAList()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config.Remove("layer_types");
        var p = Provider(config);
        Assert.Equal(new[] { 1, 1, 1, 0, 1, 1, 1, 0 }, p.LinearAttentionFreq!.Pattern);
        Assert.Equal("G G G A G G G A", p.LayerLayout);
    }

    [Fact]
    public void ParamsDtypeReadsTextConfigOnlyAndDefaultsToFloat32()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        Assert.Equal("bfloat16", (string?)config["dtype"]);
        var p = Provider(config);
        Assert.Equal(("float32", false, false), (p.ParamsDtype, p.Bf16, p.Fp16));
        // What a conversion writes by default stays the checkpoint's declared dtype.
        Assert.Equal("bfloat16", p.CheckpointDtype);

        ConfigBuilder.Text(config)["dtype"] = "float16";
        p = Provider(config);
        Assert.Equal(("float16", false, true), (p.ParamsDtype, p.Bf16, p.Fp16));
        Assert.Equal("float16", p.CheckpointDtype);
    }

    [Fact]
    public void MtpLossScalingFactorIsMcoresDefaultWithoutMtp()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-moe-tiny");
        ConfigBuilder.Text(config)["mtp_num_hidden_layers"] = 0;
        var p = Provider(config);
        Assert.Equal(0, p.MtpLayers);
        Assert.Equal(0.1, p.MtpLossScalingFactor);
    }

    [Fact]
    public void InterleavedMropeSectionNeedNotCoverTheRotaryDimension()
    {
        // head_dim 48 x 0.25 = 12 rotary dims = 6 frequency pairs; [2, 1, 1] covers 4 of them.
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        ConfigBuilder.Text(config)["head_dim"] = 48;
        var p = Provider(config);
        Assert.Equal(new[] { 2, 1, 1 }, p.MropeSection);
        Assert.Equal(48, p.KvChannels);
    }

    [Fact]
    public void LayerTypesWinOverTheInterval()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config["full_attention_interval"] = 2;
        config["layer_types"] = new JsonArray("full_attention", "linear_attention", "linear_attention", "linear_attention",
            "linear_attention", "linear_attention", "linear_attention", "linear_attention");
        Assert.Equal("A G G G G G G G", Provider(config).LayerLayout);
    }

    [Fact]
    public void AbsentTokenIdsTakeTheBridgeDefaultsButNullStaysNull()
    {
        var absent = ConfigBuilder.FixtureJson("qwen35-vl-moe-tiny");
        ConfigBuilder.Text(absent).Remove("bos_token_id");
        ConfigBuilder.Text(absent).Remove("eos_token_id");
        absent.Remove("image_token_id");
        var p = Assert.IsType<Qwen35VLMoEModelProvider>(Provider(absent));
        Assert.Equal(248045, p.BosTokenId);
        Assert.Equal(248046, p.EosTokenId);
        Assert.Equal(248056, p.ImageTokenId);
        Assert.Equal(1001, p.VideoTokenId);

        var dense = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        ConfigBuilder.Text(dense).Remove("eos_token_id");
        dense["video_token_id"] = null;
        var d = Assert.IsType<Qwen35VLModelProvider>(Provider(dense));
        Assert.Equal(248044, d.EosTokenId);
        Assert.Null(d.BosTokenId);
        Assert.Null(d.VideoTokenId);
    }

    [Fact]
    public void VlTieFlagComesFromTheTopLevel()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        config["tie_word_embeddings"] = true;
        ConfigBuilder.Text(config)["tie_word_embeddings"] = false;
        Assert.True(Provider(config).ShareEmbeddingsAndOutputWeights);
        config.Remove("tie_word_embeddings");
        ConfigBuilder.Text(config)["tie_word_embeddings"] = true;
        Assert.False(Provider(config).ShareEmbeddingsAndOutputWeights);
    }

    [Fact]
    public void RotaryPercentComesFromRopeParametersAndDefaultsToAQuarter()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        var rope = (JsonObject)ConfigBuilder.Text(config)["rope_parameters"]!;
        rope["partial_rotary_factor"] = 0.5;
        rope["mrope_section"] = new JsonArray(4, 2, 2);
        Assert.Equal(0.5, Provider(config).RotaryPercent);
        rope.Remove("partial_rotary_factor");
        rope["mrope_section"] = new JsonArray(2, 1, 1);
        ConfigBuilder.Text(config)["partial_rotary_factor"] = 0.5;
        // _apply_qwen35_common_config reads only rope_parameters; the flat field (copied by the generic step) is
        // overwritten with the 0.25 default.
        Assert.Equal(0.25, Provider(config).RotaryPercent);
    }

    [Fact]
    public void MissingMropeSectionUsesTheClassDefault()
    {
        var config = ConfigBuilder.FixtureJson("qwen3-vl-dense-tiny");
        var text = ConfigBuilder.Text(config);
        text["head_dim"] = 128;
        text.Remove("rope_parameters");
        text["rope_theta"] = 1e6;
        var p = Provider(config);
        Assert.Equal(new[] { 24, 20, 20 }, p.MropeSection);
        Assert.Equal(1e6, p.RotaryBase);
    }

    [Fact]
    public void ParamsDtypePrefersTextConfigThenTopLevelThenFloat32()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        ConfigBuilder.Text(config)["dtype"] = "float16";
        var p = Provider(config);
        Assert.Equal(("float16", false, true), (p.ParamsDtype, p.Bf16, p.Fp16));
        ConfigBuilder.Text(config).Remove("dtype");
        config.Remove("dtype");
        p = Provider(config);
        Assert.Equal(("float32", false, false), (p.ParamsDtype, p.Bf16, p.Fp16));
        // The vision tower always keeps its own float32 default.
        Assert.Equal("float32", p.Vision!.ParamsDtype);
    }

    [Fact]
    public void MissingMtpFieldMeansNoMtp()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        ConfigBuilder.Text(config).Remove("mtp_num_hidden_layers");
        var p = Provider(config);
        Assert.Null(p.MtpNumLayers);
        Assert.Equal(0, p.MtpLayers);
    }

    [Fact]
    public void AbsentHeadDimIsHiddenOverHeads()
    {
        var qwen35 = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        qwen35.Remove("head_dim");
        // GPTModelProvider has no kv_channels default: mcore derives 64 / 8.
        Assert.Equal(8, Provider(qwen35).KvChannels);

        var qwen3vl = ConfigBuilder.FixtureJson("qwen3-vl-moe-tiny");
        var text = ConfigBuilder.Text(qwen3vl);
        text.Remove("head_dim");
        ((JsonObject)text["rope_parameters"]!)["mrope_section"] = new JsonArray(2, 1, 1);
        var p = Assert.IsType<Qwen3VLMoEModelProvider>(Provider(qwen3vl));
        Assert.Equal(8, p.HeadDim);
        Assert.Equal(8, p.KvChannels);
    }

    [Theory]
    [InlineData(1024, 128)]
    [InlineData(1000, 8)]
    [InlineData(1001, 1)]
    [InlineData(151936, 128)]
    [InlineData(248320, 128)]
    public void VocabDivisibilityIsTheLargestPowerOfTwoUpTo128(int vocab, int expected)
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config["vocab_size"] = vocab;
        Assert.Equal(expected, Provider(config).MakeVocabSizeDivisibleBy);
    }

    [Fact]
    public void UnknownFieldsAreIgnored()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        config["something_new"] = new JsonObject { ["x"] = 1 };
        ConfigBuilder.Text(config)["mamba_ssm_dtype"] = "float32";
        Assert.Equal(8, Provider(config).NumLayers);
    }

    [Fact]
    public void ForLanguageModelOnlyUsesTheTextConfigWithTheLmOnlyBridge()
    {
        var config = ConfigBuilder.Parse(ConfigBuilder.FixtureJson("qwen35-vl-moe-tiny"));
        var (bridge, p) = BridgeRegistry.ForLanguageModelOnly(config);
        Assert.Equal("Qwen35MoEBridge", bridge.BridgeName);
        Assert.Equal(typeof(GptModelProvider), p.GetType());
        Assert.Equal((8, 64, 8, 4, 32), (p.NumLayers, p.HiddenSize, p.NumAttentionHeads, p.NumQueryGroups, p.KvChannels));
        Assert.Equal((8, 2, 24, 40), (p.NumMoeExperts, p.MoeRouterTopk, p.MoeFfnHiddenSize, p.MoeSharedExpertIntermediateSize));
        Assert.Equal("rope", p.PositionEmbeddingType);
        Assert.Null(p.MropeSection);
        Assert.False(p.HasVision);
        Assert.Equal(1, p.MtpLayers);
        Assert.Equal("bfloat16", p.ParamsDtype);
        Assert.Equal("G G G A G G G A", p.LayerLayout);
    }

    [Fact]
    public void ForLanguageModelOnlyIsRefusedForQwen3Vl()
    {
        var config = ConfigBuilder.Parse(ConfigBuilder.FixtureJson("qwen3-vl-dense-tiny"));
        var e = Assert.Throws<InvalidInputException>(() => BridgeRegistry.ForLanguageModelOnly(config));
        Assert.Contains("Qwen3VLBridge", e.Message);
    }

    [Fact]
    public void DispatchTakesTheFirstRegisteredArchitecture()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        config["architectures"] = new JsonArray("SomethingElseForCausalLM", "Qwen3_5ForConditionalGeneration");
        Assert.Equal("Qwen35VLBridge", BridgeRegistry.Resolve(ConfigBuilder.Parse(config)).BridgeName);
        // model_type plays no part in dispatch.
        config["model_type"] = "qwen3_vl";
        Assert.Equal("Qwen35VLBridge", BridgeRegistry.Resolve(ConfigBuilder.Parse(config)).BridgeName);
    }

    [Fact]
    public void RegistryCoversTheSixArchitectures()
    {
        Assert.Equal(new[]
        {
            "Qwen3_5ForConditionalGeneration", "Qwen3_5MoeForConditionalGeneration", "Qwen3_5ForCausalLM", "Qwen3_5MoeForCausalLM",
            "Qwen3VLForConditionalGeneration", "Qwen3VLMoeForConditionalGeneration",
        }, BridgeRegistry.SupportedArchitectures);
        Assert.All(BridgeRegistry.All, r => Assert.Equal(r.Architecture.Contains("Moe"), r.IsMoe));
        Assert.All(BridgeRegistry.All, r => Assert.Equal(r.Architecture.EndsWith("ForConditionalGeneration"), r.IsVisionLanguage));
    }

    [Fact]
    public void IsMoeLayerRejectsLayersOutsideTheModel()
    {
        var p = Provider(ConfigBuilder.FixtureJson("qwen35-text-moe-tiny"));
        Assert.True(p.IsMoeLayer(7));
        Assert.Throws<ArgumentOutOfRangeException>(() => p.IsMoeLayer(8));
        Assert.Throws<ArgumentOutOfRangeException>(() => p.IsMoeLayer(-1));
    }
}
