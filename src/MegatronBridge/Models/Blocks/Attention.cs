using MegatronBridge.Conversion;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models.Blocks;

/// <summary>
/// The shape of a self-attention module (megatron-core's SelfAttention with TransformerEngine's fused
/// LayerNorm-linear): the query / key / value projection with its input norm fused in, optional query-key norms, and
/// the output projection.
/// </summary>
/// <param name="OutputGate">A per-head output gate: linear_qkv also produces a gate row block per query head (Qwen3.5's gated attention).</param>
/// <param name="QkvBias">linear_qkv has a bias.</param>
/// <param name="QkNorm">q_layernorm and k_layernorm over the head dimension.</param>
/// <param name="LinearBias">linear_proj has a bias.</param>
/// <param name="NormBias">The fused input norm is a LayerNorm with a bias (an RMSNorm has none).</param>
internal sealed record AttentionSpec(long Hidden, long Heads, long QueryGroups, long HeadDim,
    bool OutputGate, bool QkvBias, bool QkNorm, bool LinearBias, bool NormBias)
{
    /// <summary>The language model's attention as the provider configures it.</summary>
    public static AttentionSpec Of(GptModelProvider p) => new(p.HiddenSize, p.NumAttentionHeads, p.NumQueryGroups, p.KvChannels,
        OutputGate: p.AttentionOutputGate, QkvBias: p.AddQkvBias, QkNorm: p.QkLayernorm, LinearBias: p.AddBiasLinear,
        NormBias: Norms.HasBias(p.Normalization));

    /// <summary>Rows of linear_qkv: ((gate ? 2 : 1) x heads + 2 x groups) x head dim.</summary>
    public long QkvRows => ((OutputGate ? 2L : 1L) * Heads + 2L * QueryGroups) * HeadDim;
}

/// <summary>Adds a self-attention module's parameters under <c>self_attention.</c> of a layer.</summary>
internal static class Attention
{
    public static void Add(ModuleScope layer, AttentionSpec s)
    {
        var qkv = layer.Module("self_attention.linear_qkv");
        qkv.Param("layer_norm_weight", new TensorShape(s.Hidden));
        if (s.NormBias) qkv.Param("layer_norm_bias", new TensorShape(s.Hidden));
        qkv.Param("weight", new TensorShape(s.QkvRows, s.Hidden));
        if (s.QkvBias) qkv.Param("bias", new TensorShape(s.QkvRows));
        var attention = layer.Module("self_attention");
        if (s.QkNorm)
        {
            attention.Param("q_layernorm.weight", new TensorShape(s.HeadDim));
            attention.Param("k_layernorm.weight", new TensorShape(s.HeadDim));
        }
        var proj = attention.Module("linear_proj");
        proj.Param("weight", new TensorShape(s.Hidden, s.Heads * s.HeadDim));
        if (s.LinearBias) proj.Param("bias", new TensorShape(s.Hidden));
    }
}
