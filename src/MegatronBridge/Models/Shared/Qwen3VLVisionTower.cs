using MegatronBridge.Conversion;
using MegatronBridge.Models.Blocks;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models.Shared;

/// <summary>
/// The Qwen3-VL vision encoder, which Qwen3.5 / Qwen3.6 reuse (Megatron-Bridge's Qwen3-VL vision model, under
/// <c>vision_model.</c>, <see cref="ModelPrefixes"/>): a 3-D patch embedding, learned position embeddings, a
/// TransformerBlock of LayerNorm attention + MLP layers with biases, one deepstack merger per entry of
/// <c>deepstack_visual_indexes</c> (Qwen3-VL; none for Qwen3.5), then the patch merger. The deepstack mergers share one
/// torch_dist key per parameter with a leading merger axis, as the layers do.
/// </summary>
internal static class Qwen3VLVisionTower
{
    public static void Add(ModuleTree tree, VisionTransformerConfig v)
    {
        long hv = v.HiddenSize, merged = v.MergedHiddenSize, hout = v.OutHiddenSize;
        // The encoder runs before the first decoder layer: megatron-core's VL models keep it on the first pipeline stage.
        var vision = tree.Scope(ModelPrefixes.MegatronVision, PipelineStage.First);
        vision.Param("patch_embed.proj.weight", new TensorShape(hv, v.InChannels, v.TemporalPatchSize, v.PatchSize, v.PatchSize));
        vision.Param("patch_embed.proj.bias", new TensorShape(hv));
        vision.Param("pos_embed.weight", new TensorShape(v.NumPositionEmbeddings, hv));

        bool normBias = Norms.HasBias(v.Normalization);
        var attention = new AttentionSpec(hv, v.NumAttentionHeads, v.NumQueryGroups, v.KvChannels,
            OutputGate: v.AttentionOutputGate, QkvBias: v.AddQkvBias, QkNorm: false, LinearBias: v.AddBiasLinear, NormBias: normBias);
        var mlp = new MlpSpec(hv, v.FfnHiddenSize, v.GatedLinearUnit, v.AddBiasLinear, normBias);
        for (int j = 0; j < v.NumLayers; j++)
        {
            var layer = TransformerBlock.Layer(vision, j, v.NumLayers, v.HetereogenousDistCheckpoint);
            Attention.Add(layer, attention);
            Mlp.Add(layer, mlp);
        }

        int mergers = v.DeepstackVisualIndexes.Count;
        for (int k = 0; k < mergers; k++)
            PatchMerger(vision.Module("decoder").StackedEntry("deepstack_merger_list", k, mergers), normWidth: merged, merged, hout);
        PatchMerger(vision.Module("merger"), normWidth: hv, merged, hout);
    }

    /// <summary>
    /// A patch merger: a LayerNorm (over each patch before the spatial merge for the final merger, over the merged
    /// vector for deepstack mergers), then fc1 (merged to merged) and fc2 (merged to the language model's width), with biases.
    /// </summary>
    private static void PatchMerger(ModuleScope m, long normWidth, long merged, long hout)
    {
        m.Param("patch_norm.weight", new TensorShape(normWidth));
        m.Param("patch_norm.bias", new TensorShape(normWidth));
        m.Param("linear_fc1.weight", new TensorShape(merged, merged));
        m.Param("linear_fc1.bias", new TensorShape(merged));
        m.Param("linear_fc2.weight", new TensorShape(hout, merged));
        m.Param("linear_fc2.bias", new TensorShape(hout));
    }
}
