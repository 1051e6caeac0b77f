using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Models;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Models;

/// <summary>
/// The language-model-only renaming belongs to the bridge registration of a VL bridge; the job layer's view only
/// applies it. Expected names here are written out by hand from the Qwen3.5 checkpoint layout.
/// </summary>
public class LanguageModelOnlyCounterpartTests
{
    private static LanguageModelOnlyCounterpart Counterpart(string architecture)
    {
        Assert.True(BridgeRegistry.TryGet(architecture, out var registration));
        return registration.LanguageModelOnly ?? throw new Xunit.Sdk.XunitException($"{architecture} has no language-model-only counterpart");
    }

    [Theory]
    [InlineData("Qwen3_5ForConditionalGeneration", "Qwen3_5ForCausalLM")]
    [InlineData("Qwen3_5MoeForConditionalGeneration", "Qwen3_5MoeForCausalLM")]
    public void Qwen35VlRegistration_RenamesTheLanguageModel_DropsVision_KeepsHeadAndMtp(string vl, string lm)
    {
        var counterpart = Counterpart(vl);
        Assert.Equal(lm, counterpart.Architecture);
        Assert.Equal("model.layers.3.self_attn.q_proj.weight", counterpart.HfName("model.language_model.layers.3.self_attn.q_proj.weight"));
        Assert.Equal("model.embed_tokens.weight", counterpart.HfName("model.language_model.embed_tokens.weight"));
        Assert.Null(counterpart.HfName("model.visual.blocks.0.attn.qkv.weight"));
        Assert.Null(counterpart.HfName("model.visual.merger.linear_fc1.weight"));
        Assert.Equal("lm_head.weight", counterpart.HfName("lm_head.weight"));
        Assert.Equal("mtp.fc.weight", counterpart.HfName("mtp.fc.weight"));
    }

    [Theory]
    [InlineData("Qwen3VLForConditionalGeneration")]
    [InlineData("Qwen3VLMoeForConditionalGeneration")]
    [InlineData("Qwen3_5ForCausalLM")]
    public void OtherRegistrations_HaveNoCounterpart(string architecture)
    {
        Assert.True(BridgeRegistry.TryGet(architecture, out var registration));
        Assert.Null(registration.LanguageModelOnly);
    }

    [Fact]
    public void Qwen3Vl_IsRefusedByTheRegistry_NamingTheConfig()
    {
        var config = HfConfig.LoadFromFolder(TestPaths.Fixture("qwen3-vl-dense-tiny"));
        Assert.False(BridgeRegistry.HasLanguageModelOnly(config));
        var e = Assert.Throws<InvalidInputException>(() => BridgeRegistry.LanguageModelOnly(config));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("Qwen3VLBridge has no language-model-only bridge", e.Message);
    }

    [Fact]
    public void View_OverAFixture_ShowsLanguageModelNamesOnly_AndReadsTheVlBytes()
    {
        var folder = TestPaths.Fixture("qwen35-vl-dense-tiny");
        var config = HfConfig.LoadFromFolder(folder);
        Assert.True(BridgeRegistry.HasLanguageModelOnly(config));
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        var view = new LanguageModelOnlyView(checkpoint, config);

        var expected = checkpoint.Tensors.Select(t => t.Name)
            .Where(n => !n.StartsWith("model.visual.", StringComparison.Ordinal))
            .Select(n => n.StartsWith("model.language_model.", StringComparison.Ordinal) ? "model." + n["model.language_model.".Length..] : n)
            .OrderBy(n => n, StringComparer.Ordinal).ToList();
        Assert.Equal(expected, view.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal).ToList());
        Assert.Contains(checkpoint.Tensors, t => t.Name.StartsWith("model.visual.", StringComparison.Ordinal));

        Assert.Equal(checkpoint.ReadAll("model.language_model.layers.0.mlp.down_proj.weight"), view.ReadAll("model.layers.0.mlp.down_proj.weight"));
        Assert.False(view.TryGet("model.language_model.layers.0.mlp.down_proj.weight", out _));
        var e = Assert.Throws<InvalidInputException>(() => view.ReadAll("model.visual.patch_embed.proj.weight"));
        Assert.Contains("model.visual.patch_embed.proj.weight", e.Message);
    }

    [Fact]
    public void View_AppliesWhateverRenameTheRegistrationGives()
    {
        var source = new MemoryTensorSource("toy")
            .Add("vlm.text.w", DType.BF16, new TensorShape(1), new byte[2])
            .Add("vlm.eyes.w", DType.BF16, new TensorShape(1), new byte[2])
            .Add("head.w", DType.BF16, new TensorShape(1), new byte[2]);
        var view = new LanguageModelOnlyView(source, new LanguageModelOnlyCounterpart("ToyForCausalLM", "vlm.text.", "lm.", new[] { "vlm.eyes." }));
        Assert.Equal(new[] { "lm.w", "head.w" }, view.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void View_RefusesTwoTensorsThatGetOneName()
    {
        var source = new MemoryTensorSource("clash")
            .Add("model.language_model.norm.weight", DType.BF16, new TensorShape(1), new byte[2])
            .Add("model.norm.weight", DType.BF16, new TensorShape(1), new byte[2]);
        var e = Assert.Throws<InvalidInputException>(() => new LanguageModelOnlyView(source, Counterpart("Qwen3_5ForConditionalGeneration")));
        Assert.Contains("clash", e.Message);
        Assert.Contains("'model.norm.weight'", e.Message);
    }

    [Fact]
    public void Config_IsTheTextConfig_UnderTheLmOnlyArchitecture_WithTheVlDtype()
    {
        var config = HfConfig.LoadFromFolder(TestPaths.Fixture("qwen35-vl-dense-tiny"));
        var lm = Counterpart("Qwen3_5ForConditionalGeneration").Config(config);
        Assert.Equal("architectures", lm.First().Key);
        Assert.Equal("Qwen3_5ForCausalLM", (string)lm["architectures"]![0]!);
        Assert.Equal((string)config.Json["text_config"]!["model_type"]!, (string)lm["model_type"]!);
        Assert.Equal((int)config.Json["text_config"]!["num_hidden_layers"]!, (int)lm["num_hidden_layers"]!);
        // text_config of this fixture declares no dtype; the top level's bfloat16 is carried over.
        Assert.Null(config.Json["text_config"]!["dtype"]);
        Assert.Equal("bfloat16", (string)lm["dtype"]!);
        Assert.Null(lm["vision_config"]);
    }
}
