using MegatronBridge.Models;
using MegatronBridge.Models.Shared;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Models;

/// <summary>
/// Which HF tensors a bf16 checkpoint's <c>export --quantize fp8</c> writes as E4M3: the set Qwen's FP8 releases
/// quantize, owned by the model family (expected values from the release layout: linear weights of the language model
/// and MTP yes; embeddings, LM head, routers, gates, small GDN projections, conv1d, vision, norms and 3-D tensors no).
/// </summary>
public class QwenFp8ReleaseTests
{
    private static TensorMeta T(string name, params long[] shape) => new(name, DType.BF16, new TensorShape(shape));

    [Theory]
    [InlineData("model.language_model.layers.3.self_attn.q_proj.weight")]
    [InlineData("model.language_model.layers.0.linear_attn.in_proj_qkv.weight")]
    [InlineData("model.language_model.layers.0.linear_attn.out_proj.weight")]
    [InlineData("model.language_model.layers.1.mlp.experts.7.down_proj.weight")]
    [InlineData("model.language_model.layers.1.mlp.shared_expert.up_proj.weight")]
    [InlineData("mtp.layers.0.self_attn.o_proj.weight")]
    public void LinearWeightsOfTheLanguageModelAndMtpAreQuantized(string name) =>
        Assert.True(QwenFp8Release.Quantizes(T(name, 64, 32)));

    [Theory]
    [InlineData("model.language_model.embed_tokens.weight")]
    [InlineData("lm_head.weight")]
    [InlineData("mtp.fc.weight")]
    [InlineData("model.language_model.layers.1.mlp.gate.weight")]
    [InlineData("model.language_model.layers.1.mlp.shared_expert_gate.weight")]
    [InlineData("model.language_model.layers.0.linear_attn.in_proj_a.weight")]
    [InlineData("model.language_model.layers.0.linear_attn.in_proj_b.weight")]
    [InlineData("model.visual.blocks.0.attn.qkv.weight")]
    [InlineData("model.language_model.layers.0.self_attn.q_proj.bias")]
    public void EmbeddingsHeadRoutersGatesSmallGdnProjectionsVisionAndBiasesStayBf16(string name) =>
        Assert.False(QwenFp8Release.Quantizes(T(name, 64, 32)));

    [Fact]
    public void OnlyTwoDimensionalWeightsAreQuantized()
    {
        Assert.False(QwenFp8Release.Quantizes(T("model.language_model.layers.1.mlp.experts.gate_up_proj.weight", 8, 64, 32)));
        Assert.False(QwenFp8Release.Quantizes(T("model.language_model.layers.0.input_layernorm.weight", 32)));
    }

    [Fact]
    public void EveryRegisteredBridgeStatesItsFp8ReleaseLayout() =>
        Assert.All(BridgeRegistry.All, b => Assert.NotNull(b.Fp8QuantizedByDefault));
}
