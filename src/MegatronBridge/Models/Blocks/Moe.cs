using MegatronBridge.Conversion;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models.Blocks;

/// <summary>
/// A mixture-of-experts MLP (megatron-core's MoELayer): the pre-MLP norm (not fused: the router reads its output too),
/// the router, the routed experts as TEGroupedMLP (<c>experts.linear_fc1.weight{e}</c>, stacked on the expert axis of
/// one torch_dist key), and the shared experts with their optional sigmoid gate.
/// </summary>
internal static class Moe
{
    public static void Add(ModuleScope layer, GptModelProvider p)
    {
        long h = p.HiddenSize, i = p.MoeExpertFfnHiddenSize;
        int experts = p.NumExperts;
        bool gated = p.GatedLinearUnit;
        layer.Param("pre_mlp_layernorm.weight", new TensorShape(h));
        var mlp = layer.Module("mlp");
        mlp.Param("router.weight", new TensorShape(experts, h));
        var grouped = mlp.Module("experts");
        for (int e = 0; e < experts; e++)
            grouped.GroupedParam("linear_fc1.weight", e, experts, new TensorShape(Mlp.Fc1RowCount(gated, i), h), Mlp.Fc1Rows(gated));
        for (int e = 0; e < experts; e++)
            grouped.GroupedParam("linear_fc2.weight", e, experts, new TensorShape(h, i));
        if (p.HasSharedExperts && p.MoeSharedExpertIntermediateSize is int s)
        {
            var shared = mlp.Module("shared_experts");
            shared.Param("linear_fc1.weight", new TensorShape(Mlp.Fc1RowCount(gated, s), h), Mlp.Fc1Rows(gated));
            shared.Param("linear_fc2.weight", new TensorShape(h, s));
            if (p.MoeSharedExpertGate) shared.Param("gate_weight", new TensorShape(1, h));
        }
    }
}
