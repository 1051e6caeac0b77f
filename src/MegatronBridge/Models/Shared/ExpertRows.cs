using MegatronBridge.Conversion;

namespace MegatronBridge.Models.Shared;

/// <summary>Expert rows that more than one model family's MoE tables use.</summary>
internal static class ExpertRows
{
    /// <summary>
    /// Routed experts: megatron-core's grouped-GEMM names (<c>linear_fc1.weight{e}</c>) and SequentialMLP names
    /// (<c>local_experts.{e}.linear_fc1.weight</c>), both from the HF layout the checkpoint uses (per expert or packed).
    /// </summary>
    public static MappingTableBuilder RoutedExperts(MappingTableBuilder t, ExpertLayout layout, string mp = "{MP}decoder", string hp = "{HP}layers") =>
        layout == ExpertLayout.PerExpert
            ? t.ExpertFc1($"{mp}.layers.*.mlp.experts.linear_fc1.weight*", layout, $"{hp}.*.mlp.experts.*.gate_proj.weight", $"{hp}.*.mlp.experts.*.up_proj.weight")
               .ExpertFc2($"{mp}.layers.*.mlp.experts.linear_fc2.weight*", layout, $"{hp}.*.mlp.experts.*.down_proj.weight")
               .ExpertFc1($"{mp}.layers.*.mlp.experts.local_experts.*.linear_fc1.weight", layout, $"{hp}.*.mlp.experts.*.gate_proj.weight", $"{hp}.*.mlp.experts.*.up_proj.weight")
               .ExpertFc2($"{mp}.layers.*.mlp.experts.local_experts.*.linear_fc2.weight", layout, $"{hp}.*.mlp.experts.*.down_proj.weight")
            : t.ExpertFc1($"{mp}.layers.*.mlp.experts.linear_fc1.weight*", layout, $"{hp}.*.mlp.experts.gate_up_proj")
               .ExpertFc2($"{mp}.layers.*.mlp.experts.linear_fc2.weight*", layout, $"{hp}.*.mlp.experts.down_proj")
               .ExpertFc1($"{mp}.layers.*.mlp.experts.local_experts.*.linear_fc1.weight", layout, $"{hp}.*.mlp.experts.gate_up_proj")
               .ExpertFc2($"{mp}.layers.*.mlp.experts.local_experts.*.linear_fc2.weight", layout, $"{hp}.*.mlp.experts.down_proj");
}
