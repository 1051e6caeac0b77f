using MegatronBridge.Conversion;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models.Blocks;

/// <summary>
/// megatron-core's TransformerBlock (<c>decoder.</c>): its layers and its final norm. In a torch_dist checkpoint the
/// layers share one key per parameter with a leading layer axis, unless <c>hetereogenous_dist_checkpoint</c> is set
/// (then every layer keeps its own numbered keys), as the block's <c>sharded_state_dict</c> does.
/// </summary>
internal static class TransformerBlock
{
    /// <summary>Layer <paramref name="index"/> of <paramref name="count"/> of the block under <paramref name="model"/>.</summary>
    public static ModuleScope Layer(ModuleScope model, int index, int count, bool heterogeneousDistCheckpoint) =>
        model.Module("decoder").Entry("layers", index, count, stacked: !heterogeneousDistCheckpoint);

    /// <summary>The norm after the last layer.</summary>
    public static void FinalNorm(ModuleScope model, long hidden) =>
        model.Module("decoder").Param("final_layernorm.weight", new TensorShape(hidden));
}
