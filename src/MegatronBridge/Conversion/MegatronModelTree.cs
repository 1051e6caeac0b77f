using MegatronBridge.IO;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// The Megatron parameters a provider builds (TransformerEngine names; docs/mappings.md, Megatron-Core names), in
/// module order, with their global (TP=1, all layers, all experts) shapes. <paramref name="languagePrefix"/> is
/// "language_model." for VL models and "" for LM-only ones; vision parameters come first, under "vision_model.".
/// </summary>
internal static class MegatronModelTree
{
    public static IReadOnlyList<MegatronParam> Parameters(GptModelProvider p, string languagePrefix)
    {
        var list = new List<MegatronParam>();
        void Add(string name, params long[] shape) => list.Add(new MegatronParam(name, new TensorShape(shape)));

        if (p.Vision is { } v) AddVision(v, Add);

        string mp = languagePrefix;
        long h = p.HiddenSize;
        Add($"{mp}embedding.word_embeddings.weight", p.VocabSize, h);
        var kinds = p.DecoderLayerKinds;
        for (int i = 0; i < p.NumLayers; i++)
        {
            string layer = $"{mp}decoder.layers.{i}.";
            if (kinds[i] == DecoderLayerKind.GatedDeltaNet) AddGdn(p, layer, Add);
            else AddAttention(p, layer, Add);
            AddMlp(p, layer, p.IsMoeLayer(i), Add);
        }
        Add($"{mp}decoder.final_layernorm.weight", h);
        if (!p.ShareEmbeddingsAndOutputWeights) Add($"{mp}output_layer.weight", p.VocabSize, h);

        if (p.MtpLayers > 0)
        {
            if (p.NumLayers == 0 || p.MtpLayerKind != DecoderLayerKind.Attention)
                throw new InvalidInputException("the MTP layer is built from the last decoder layer's spec, which must be an attention layer (a GDN MTP layer is not mapped by the bridge)");
            for (int k = 0; k < p.MtpLayers; k++)
            {
                string mtp = $"{mp}mtp.layers.{k}.";
                Add(mtp + "enorm.weight", h);
                Add(mtp + "hnorm.weight", h);
                Add(mtp + "eh_proj.weight", h, 2 * h);
                AddAttention(p, mtp + "mtp_model_layer.", Add);
                AddMlp(p, mtp + "mtp_model_layer.", p.MtpLayerIsMoe, Add);
                Add(mtp + "final_layernorm.weight", h);
            }
        }
        return list;
    }

    private static void AddVision(VisionTransformerConfig v, Action<string, long[]> add)
    {
        long hv = v.HiddenSize, iv = v.FfnHiddenSize, merged = v.MergedHiddenSize, hout = v.OutHiddenSize;
        add("vision_model.patch_embed.proj.weight", new long[] { hv, v.InChannels, v.TemporalPatchSize, v.PatchSize, v.PatchSize });
        add("vision_model.patch_embed.proj.bias", new[] { hv });
        add("vision_model.pos_embed.weight", new long[] { v.NumPositionEmbeddings, hv });
        for (int j = 0; j < v.NumLayers; j++)
        {
            string l = $"vision_model.decoder.layers.{j}.";
            add(l + "self_attention.linear_qkv.layer_norm_weight", new[] { hv });
            add(l + "self_attention.linear_qkv.layer_norm_bias", new[] { hv });
            add(l + "self_attention.linear_qkv.weight", new[] { 3 * hv, hv });
            add(l + "self_attention.linear_qkv.bias", new[] { 3 * hv });
            add(l + "self_attention.linear_proj.weight", new[] { hv, hv });
            add(l + "self_attention.linear_proj.bias", new[] { hv });
            add(l + "mlp.linear_fc1.layer_norm_weight", new[] { hv });
            add(l + "mlp.linear_fc1.layer_norm_bias", new[] { hv });
            add(l + "mlp.linear_fc1.weight", new[] { iv, hv });
            add(l + "mlp.linear_fc1.bias", new[] { iv });
            add(l + "mlp.linear_fc2.weight", new[] { hv, iv });
            add(l + "mlp.linear_fc2.bias", new[] { hv });
        }
        for (int k = 0; k < v.DeepstackVisualIndexes.Count; k++)
        {
            string d = $"vision_model.decoder.deepstack_merger_list.{k}.";
            add(d + "patch_norm.weight", new[] { merged });
            add(d + "patch_norm.bias", new[] { merged });
            add(d + "linear_fc1.weight", new[] { merged, merged });
            add(d + "linear_fc1.bias", new[] { merged });
            add(d + "linear_fc2.weight", new[] { hout, merged });
            add(d + "linear_fc2.bias", new[] { hout });
        }
        add("vision_model.merger.patch_norm.weight", new[] { hv });
        add("vision_model.merger.patch_norm.bias", new[] { hv });
        add("vision_model.merger.linear_fc1.weight", new[] { merged, merged });
        add("vision_model.merger.linear_fc1.bias", new[] { merged });
        add("vision_model.merger.linear_fc2.weight", new[] { hout, merged });
        add("vision_model.merger.linear_fc2.bias", new[] { hout });
    }

    private static void AddGdn(GptModelProvider p, string layer, Action<string, long[]> add)
    {
        long h = p.HiddenSize, qk = p.LinearQueryKeyDim, vd = p.LinearValueDim, nv = p.LinearNumValueHeads;
        string a = layer + "self_attention.";
        add(a + "in_proj.layer_norm_weight", new[] { h });
        add(a + "in_proj.weight", new[] { 2 * qk + 2 * vd + 2 * nv, h });
        add(a + "conv1d.weight", new long[] { p.LinearConvChannels, 1, p.LinearConvKernelDim });
        add(a + "dt_bias", new[] { nv });
        add(a + "A_log", new[] { nv });
        add(a + "out_norm.weight", new long[] { p.LinearValueHeadDim });
        add(a + "out_proj.weight", new[] { h, vd });
    }

    private static void AddAttention(GptModelProvider p, string layer, Action<string, long[]> add)
    {
        long h = p.HiddenSize, d = p.KvChannels;
        long rows = ((p.AttentionOutputGate ? 2L : 1L) * p.NumAttentionHeads + 2L * p.NumQueryGroups) * d;
        string a = layer + "self_attention.";
        add(a + "linear_qkv.layer_norm_weight", new[] { h });
        add(a + "linear_qkv.weight", new[] { rows, h });
        if (p.AddQkvBias) add(a + "linear_qkv.bias", new[] { rows });
        if (p.QkLayernorm)
        {
            add(a + "q_layernorm.weight", new[] { d });
            add(a + "k_layernorm.weight", new[] { d });
        }
        add(a + "linear_proj.weight", new[] { h, p.NumAttentionHeads * d });
    }

    private static void AddMlp(GptModelProvider p, string layer, bool moe, Action<string, long[]> add)
    {
        long h = p.HiddenSize;
        if (!moe)
        {
            long f = p.FfnHiddenSize;
            add(layer + "mlp.linear_fc1.layer_norm_weight", new[] { h });
            add(layer + "mlp.linear_fc1.weight", new[] { 2 * f, h });
            add(layer + "mlp.linear_fc2.weight", new[] { h, f });
            return;
        }
        long i = p.MoeExpertFfnHiddenSize;
        add(layer + "pre_mlp_layernorm.weight", new[] { h });
        add(layer + "mlp.router.weight", new long[] { p.NumExperts, h });
        for (int e = 0; e < p.NumExperts; e++) add($"{layer}mlp.experts.linear_fc1.weight{e}", new[] { 2 * i, h });
        for (int e = 0; e < p.NumExperts; e++) add($"{layer}mlp.experts.linear_fc2.weight{e}", new[] { h, i });
        if (p.HasSharedExperts && p.MoeSharedExpertIntermediateSize is int s)
        {
            add(layer + "mlp.shared_experts.linear_fc1.weight", new[] { 2L * s, h });
            add(layer + "mlp.shared_experts.linear_fc2.weight", new[] { h, (long)s });
            if (p.MoeSharedExpertGate) add(layer + "mlp.shared_experts.gate_weight", new[] { 1, h });
        }
    }
}
