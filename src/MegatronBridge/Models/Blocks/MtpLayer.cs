using MegatronBridge.Conversion;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models.Blocks;

/// <summary>
/// A multi-token-prediction layer (megatron-core's MultiTokenPredictionLayer, <c>mtp.layers.{k}.</c>): norms of the
/// embedding and of the hidden state, their projection <c>eh_proj</c> (2 x hidden to hidden), an inner transformer layer
/// under <c>mtp_model_layer.</c> (its in-memory name; see <see cref="MtpLayerNames"/> for the names checkpoints use),
/// and a final norm. MTP layers keep their own numbered keys in a torch_dist checkpoint.
/// </summary>
internal static class MtpLayer
{
    /// <param name="innerLayer">Adds the inner layer's mixer and MLP under the scope it is given.</param>
    public static void Add(ModuleScope model, GptModelProvider p, int index, Action<ModuleScope> innerLayer)
    {
        long h = p.HiddenSize;
        var mtp = model.Module("mtp").Entry("layers", index);
        mtp.Param("enorm.weight", new TensorShape(h));
        mtp.Param("hnorm.weight", new TensorShape(h));
        mtp.Param("eh_proj.weight", new TensorShape(h, 2 * h));
        innerLayer(mtp.Module(MtpLayerNames.ModelLayer));
        mtp.Param("final_layernorm.weight", new TensorShape(h));
    }
}
