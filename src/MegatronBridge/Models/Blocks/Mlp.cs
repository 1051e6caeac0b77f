using MegatronBridge.Conversion;
using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models.Blocks;

/// <summary>
/// The shape of a dense MLP (megatron-core's MLP with TransformerEngine's fused LayerNorm-linear fc1).
/// </summary>
/// <param name="Gated">A gated linear unit: fc1 produces the gate and the up projection, 2 x ffn rows
/// (megatron-core's MLP doubles fc1's output when <c>gated_linear_unit</c> is set).</param>
/// <param name="LinearBias">fc1 and fc2 have biases.</param>
/// <param name="NormBias">The fused input norm is a LayerNorm with a bias.</param>
internal sealed record MlpSpec(long Hidden, long FfnHidden, bool Gated, bool LinearBias, bool NormBias)
{
    /// <summary>The language model's dense MLP as the provider configures it.</summary>
    public static MlpSpec Of(GptModelProvider p) =>
        new(p.HiddenSize, p.FfnHiddenSize, p.GatedLinearUnit, p.AddBiasLinear, Norms.HasBias(p.Normalization));

    public long Fc1Rows => Mlp.Fc1RowCount(Gated, FfnHidden);
}

/// <summary>Adds a dense MLP's parameters under <c>mlp.</c> of a layer.</summary>
internal static class Mlp
{
    public static void Add(ModuleScope layer, MlpSpec s)
    {
        var fc1 = layer.Module("mlp.linear_fc1");
        fc1.Param("layer_norm_weight", new TensorShape(s.Hidden));
        if (s.NormBias) fc1.Param("layer_norm_bias", new TensorShape(s.Hidden));
        fc1.Param("weight", new TensorShape(s.Fc1Rows, s.Hidden), Fc1Rows(s.Gated));
        if (s.LinearBias) fc1.Param("bias", new TensorShape(s.Fc1Rows), Fc1Rows(s.Gated));
        var fc2 = layer.Module("mlp.linear_fc2");
        fc2.Param("weight", new TensorShape(s.Hidden, s.FfnHidden));
        if (s.LinearBias) fc2.Param("bias", new TensorShape(s.Hidden));
    }

    /// <summary>fc1's output rows for an MLP of <paramref name="ffn"/> hidden units: twice that when gated (gate and up).</summary>
    public static long Fc1RowCount(bool gated, long ffn) => gated ? 2 * ffn : ffn;

    /// <summary>
    /// How a torch_dist checkpoint stores a gated fc1: the gate and up halves as two chunks of one key
    /// (megatron-core's <c>apply_swiglu_sharded_factory</c>); a plain fc1 is one chunk.
    /// </summary>
    public static DistRows Fc1Rows(bool gated) => gated ? DistRows.GatedHalves : DistRows.Whole;
}
