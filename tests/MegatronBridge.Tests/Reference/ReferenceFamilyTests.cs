using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Reference;

/// <summary>
/// The reference forward takes its model family from the config's <c>architectures</c> (through the bridge registry),
/// not from <c>model_type</c>: a config whose model_type is missing or names another family runs as the architecture
/// says, and its forward still matches what transformers computed for the fixture.
/// </summary>
public class ReferenceFamilyTests
{
    private static JsonObject FixtureConfig(string fixture) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture(fixture), "config.json")))!.AsObject();

    private static HfConfig Parse(JsonObject json) => HfConfig.Parse(json.ToJsonString(), "odd-config.json");

    [Fact]
    public void Qwen3Vl_WithoutModelType_IsQwen3Vl()
    {
        var json = FixtureConfig("qwen3-vl-dense-tiny");
        json.Remove("model_type");
        json["text_config"]!.AsObject().Remove("model_type");
        // Also no mrope_section: the default must be transformers' Qwen3-VL one.
        json["text_config"]!["rope_parameters"]!.AsObject().Remove("mrope_section");
        var config = ReferenceConfig.FromHf(Parse(json));
        Assert.Equal(RmsNormStyle.Plain, config.NormStyle);
        Assert.False(config.AttentionOutputGate);
        Assert.Equal(new[] { 24, 20, 20 }, config.MropeSection);
        Assert.All(config.LinearAttentionLayers, linear => Assert.False(linear));
    }

    [Fact]
    public void Qwen3Vl_WhoseModelTypeNamesQwen35_RunsAsQwen3Vl_AndMatchesTransformers()
    {
        var folder = TestPaths.Fixture("qwen3-vl-dense-tiny");
        var json = FixtureConfig("qwen3-vl-dense-tiny");
        json["model_type"] = "qwen3_5";
        json["text_config"]!["model_type"] = "qwen3_5_text";
        int layers = (int)json["text_config"]!["num_hidden_layers"]!;
        json["text_config"]!["layer_types"] = new JsonArray(Enumerable.Repeat("linear_attention", layers).Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());

        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        using var model = ReferenceModel.FromSource(Parse(json), checkpoint);
        Assert.Equal(RmsNormStyle.Plain, model.Config.NormStyle);
        Assert.All(model.Config.LinearAttentionLayers, linear => Assert.False(linear));
        // Expected: transformers' logits for the fixture (reference_outputs.safetensors).
        var text = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)).Single(c => c.Name == "text");
        var result = CaseComparison.Run(model, text);
        Assert.True(result.Logits.MaxAbs <= 1e-3, $"max abs logit difference {result.Logits.MaxAbs:E3}");
        Assert.Equal(text.GreedyTokens, result.ActualGreedy);
    }

    [Fact]
    public void Qwen35LanguageModel_WithAnUnrelatedModelType_IsQwen35()
    {
        var json = FixtureConfig("qwen35-text-dense-tied-tiny");
        json["model_type"] = "llama";
        var config = ReferenceConfig.FromHf(Parse(json));
        Assert.Equal(RmsNormStyle.ZeroCentered, config.NormStyle);
        Assert.True(config.AttentionOutputGate);
        // The fixture's layer_types: three linear_attention layers, then full_attention.
        var expected = json["layer_types"]!.AsArray().Select(t => (string)t! == "linear_attention").ToArray();
        Assert.Equal(expected, config.LinearAttentionLayers.Take(expected.Length));
        Assert.Contains(true, expected);
    }

    [Fact]
    public void UnsupportedArchitecture_GetsTheRegistrysMessage_EvenWithAQwenModelType()
    {
        var json = FixtureConfig("qwen35-text-dense-tied-tiny");
        json["architectures"] = new JsonArray(JsonValue.Create("LlamaForCausalLM"));
        var e = Assert.Throws<InvalidInputException>(() => ReferenceConfig.FromHf(Parse(json)));
        Assert.Contains("odd-config.json", e.Message);
        Assert.Contains("unsupported architecture 'LlamaForCausalLM'", e.Message);
        Assert.Contains("Qwen3VLForConditionalGeneration", e.Message);
    }

    [Fact]
    public void MissingArchitectures_IsNamed()
    {
        var json = FixtureConfig("qwen3-vl-dense-tiny");
        json.Remove("architectures");
        var e = Assert.Throws<InvalidInputException>(() => ReferenceConfig.FromHf(Parse(json)));
        Assert.Contains("odd-config.json", e.Message);
        Assert.Contains("'architectures' is missing", e.Message);
    }
}
