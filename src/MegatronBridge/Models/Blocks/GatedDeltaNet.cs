using MegatronBridge.Conversion;
using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models.Blocks;

/// <summary>
/// A Gated DeltaNet token mixer (megatron-core's GatedDeltaNet, under <c>self_attention.</c>): the fused input
/// projection with its norm, the causal depthwise convolution, the decay parameters, the gated output norm and the
/// output projection. megatron-core's <c>sharded_state_dict</c> stores in_proj and conv1d as one key per row section
/// (so that each section reshards on its own): in_proj as query, key, value, z, beta, alpha and conv1d as query, key,
/// value.
/// </summary>
internal static class GatedDeltaNet
{
    public static void Add(ModuleScope layer, GptModelProvider p)
    {
        long h = p.HiddenSize, qk = p.LinearQueryKeyDim, vd = p.LinearValueDim, nv = p.LinearNumValueHeads;
        var a = layer.Module("self_attention");
        a.Param("in_proj.layer_norm_weight", new TensorShape(h));
        a.Param("in_proj.weight", new TensorShape(2 * qk + 2 * vd + 2 * nv, h), InProjRows(p));
        a.Param("conv1d.weight", new TensorShape(p.LinearConvChannels, 1, p.LinearConvKernelDim), Conv1dRows(p));
        a.Param("dt_bias", new TensorShape(nv));
        a.Param("A_log", new TensorShape(nv));
        a.Param("out_norm.weight", new TensorShape(p.LinearValueHeadDim));
        a.Param("out_proj.weight", new TensorShape(h, vd));
    }

    /// <summary>in_proj's row sections: query and key (nk x dk each), value and z (nv x dv each), beta and alpha (nv each).</summary>
    public static DistRows InProjRows(GptModelProvider p) => DistRows.NamedSections(
        new("query", p.LinearQueryKeyDim), new("key", p.LinearQueryKeyDim),
        new("value", p.LinearValueDim), new("z", p.LinearValueDim),
        new("beta", p.LinearNumValueHeads), new("alpha", p.LinearNumValueHeads));

    /// <summary>conv1d's row sections (its channels): query and key (nk x dk each), value (nv x dv).</summary>
    public static DistRows Conv1dRows(GptModelProvider p) => DistRows.NamedSections(
        new("query", p.LinearQueryKeyDim), new("key", p.LinearQueryKeyDim), new("value", p.LinearValueDim));
}
