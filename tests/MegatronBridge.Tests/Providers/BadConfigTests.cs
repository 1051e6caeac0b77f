using System.Text.Json.Nodes;
using MegatronBridge.IO;
using MegatronBridge.Models;
using Xunit;

namespace MegatronBridge.Tests.Providers;

/// <summary>Bad configs fail with InvalidInputException naming config.json and the field.</summary>
public class BadConfigTests
{
    private const string Where = "bad/config.json";

    private static TException Fails<TException>(JsonObject config) where TException : Exception =>
        Assert.Throws<TException>(() => BridgeRegistry.CreateProvider(ConfigBuilder.Parse(config, Where)));

    private static void AssertMessage(Exception e, params string[] parts)
    {
        Assert.Contains(Where, e.Message);
        foreach (var part in parts) Assert.Contains(part, e.Message);
    }

    [Theory]
    [InlineData("qwen35-vl-dense-tiny", "hidden_size")]
    [InlineData("qwen35-text-moe-tiny", "num_hidden_layers")]
    [InlineData("qwen3-vl-moe-tiny", "num_attention_heads")]
    [InlineData("qwen3-vl-dense-tiny", "vocab_size")]
    public void MissingRequiredField(string fixture, string field)
    {
        var config = ConfigBuilder.FixtureJson(fixture);
        ConfigBuilder.Text(config).Remove(field);
        AssertMessage(Fails<InvalidInputException>(config), field, "missing");
    }

    [Fact]
    public void NullRequiredField()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        ConfigBuilder.Text(config)["hidden_size"] = null;
        AssertMessage(Fails<InvalidInputException>(config), "text_config", "hidden_size", "null");
    }

    [Fact]
    public void WrongTypeNamesTheField()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        ConfigBuilder.Text(config)["hidden_size"] = "64";
        AssertMessage(Fails<InvalidInputException>(config), "hidden_size");
    }

    [Fact]
    public void FractionalIntegerIsAClearError()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        ConfigBuilder.Text(config)["num_hidden_layers"] = 8.5;
        Fails<InvalidInputException>(config);
    }

    [Fact]
    public void HeadsNotDivisibleByKvHeads()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        ConfigBuilder.Text(config)["num_key_value_heads"] = 3;
        AssertMessage(Fails<InvalidInputException>(config), "num_attention_heads (8)", "num_key_value_heads (3)");
    }

    [Fact]
    public void LayerTypesLengthMismatch()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config["num_hidden_layers"] = 6;
        AssertMessage(Fails<InvalidInputException>(config), "layer_types has 8 entries", "num_hidden_layers is 6");
    }

    [Fact]
    public void UnknownLayerType()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        ((JsonArray)config["layer_types"]!)[2] = "sliding_attention";
        AssertMessage(Fails<InvalidInputException>(config), "layer_types[2]", "sliding_attention");
    }

    [Fact]
    public void GdnValueHeadsNotDivisibleByKeyHeads()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-moe-tiny");
        ConfigBuilder.Text(config)["linear_num_value_heads"] = 6;
        ConfigBuilder.Text(config)["linear_num_key_heads"] = 4;
        AssertMessage(Fails<InvalidInputException>(config), "linear_num_value_heads (6)", "linear_num_key_heads (4)");
    }

    [Fact]
    public void NonPositiveInterval()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config.Remove("layer_types");
        config["full_attention_interval"] = 0;
        AssertMessage(Fails<InvalidInputException>(config), "full_attention_interval");
    }

    [Fact]
    public void TopkLargerThanExperts()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-moe-tiny");
        config["num_experts_per_tok"] = 9;
        AssertMessage(Fails<InvalidInputException>(config), "num_experts_per_tok (9)", "(8)");
    }

    [Fact]
    public void MropeSectionsSummingPastTheIntRange_AreRefusedNotOverflowed()
    {
        var config = ConfigBuilder.FixtureJson("qwen3-vl-dense-tiny");
        ((JsonObject)ConfigBuilder.Text(config)["rope_parameters"]!)["mrope_section"] = new JsonArray(6, 5, int.MaxValue);
        AssertMessage(Fails<InvalidInputException>(config), "mrope_section", $"sums to {6L + 5 + int.MaxValue}");
    }

    [Fact]
    public void GdnSizesMultiplyingPastTheIntRange_AreAnImpossibleShape()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config["linear_value_head_dim"] = int.MaxValue;
        AssertMessage(Fails<InvalidInputException>(config), "impossible tensor shape", "linear_value_head_dim");
    }

    [Fact]
    public void ADerivedFfnSizePastTheIntRange_IsAnImpossibleShape()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config["hidden_size"] = int.MaxValue;
        config.Remove("intermediate_size");
        AssertMessage(Fails<InvalidInputException>(config), "impossible tensor shape", "ffn_hidden_size", $"{4L * int.MaxValue}");
    }

    [Fact]
    public void MropeSectionNotMatchingTheRotaryDimension()
    {
        var config = ConfigBuilder.FixtureJson("qwen3-vl-dense-tiny");
        ((JsonObject)ConfigBuilder.Text(config)["rope_parameters"]!)["mrope_section"] = new JsonArray(6, 5, 4);
        AssertMessage(Fails<InvalidInputException>(config), "mrope_section", "15");
    }

    [Fact]
    public void Qwen3VlRequiresAttentionBias()
    {
        var config = ConfigBuilder.FixtureJson("qwen3-vl-dense-tiny");
        ConfigBuilder.Text(config).Remove("attention_bias");
        AssertMessage(Fails<InvalidInputException>(config), "attention_bias");
    }

    [Fact]
    public void Qwen3VlMoeRequiresExperts()
    {
        var config = ConfigBuilder.FixtureJson("qwen3-vl-moe-tiny");
        ConfigBuilder.Text(config).Remove("num_local_experts");
        AssertMessage(Fails<InvalidInputException>(config), "num_experts", "missing");
    }

    [Fact]
    public void VisionConfigMissingOrIncomplete()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        ((JsonObject)config["vision_config"]!).Remove("depth");
        AssertMessage(Fails<InvalidInputException>(config), "vision_config", "depth");
        config.Remove("vision_config");
        AssertMessage(Fails<InvalidInputException>(config), "vision_config");
    }

    [Fact]
    public void DeepstackIndexOutsideTheVisionLayers()
    {
        var config = ConfigBuilder.FixtureJson("qwen3-vl-dense-tiny");
        ((JsonObject)config["vision_config"]!)["deepstack_visual_indexes"] = new JsonArray(0, 2);
        AssertMessage(Fails<InvalidInputException>(config), "deepstack_visual_indexes[1]");
    }

    [Fact]
    public void VlConfigWithoutTextConfig()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config["architectures"] = new JsonArray("Qwen3_5ForConditionalGeneration");
        AssertMessage(Fails<InvalidInputException>(config), "text_config");
    }

    [Fact]
    public void UnknownDtype()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-text-dense-tied-tiny");
        config["dtype"] = "float7";
        AssertMessage(Fails<InvalidInputException>(config), "dtype", "float7");
    }

    [Fact]
    public void UnknownArchitectureListsTheSupportedOnes()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        config["architectures"] = new JsonArray("Qwen2VLForConditionalGeneration");
        var e = Fails<InvalidInputException>(config);
        AssertMessage(e, "Qwen2VLForConditionalGeneration", "Qwen3_5ForCausalLM", "Qwen3VLMoeForConditionalGeneration");
    }

    [Fact]
    public void MissingArchitectures()
    {
        var config = ConfigBuilder.FixtureJson("qwen35-vl-dense-tiny");
        config.Remove("architectures");
        AssertMessage(Fails<InvalidInputException>(config), "architectures");
    }
}
