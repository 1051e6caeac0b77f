using MegatronBridge.Conversion;
using MegatronBridge.Models.Shared;

namespace MegatronBridge.Models.Qwen35;

/// <summary>
/// Qwen3.5 / Qwen3.6 mapping tables, in registration order (the order of Megatron-Bridge's Qwen3.5 bridges'
/// <c>mapping_registry</c>: language model, MTP, vision); the first row that matches a Megatron name wins. {MP} / {HP}
/// are the Megatron and HF language-model prefixes of <see cref="ModelPrefixes"/>. MTP is always "mtp." on the HF
/// side. docs/mappings.md describes each kind.
/// </summary>
internal static class Qwen35Mappings
{
    /// <summary>Qwen35VLBridge: dense LM + dense MTP + vision.</summary>
    public static MappingTable Qwen35VL()
    {
        var t = new MappingTableBuilder(ModelPrefixes.VlMegatronLanguage, ModelPrefixes.VlHfLanguage);
        DenseLm(t);
        DenseMtp(t);
        Qwen3VLVisionMappings.Add(t, deepstack: false);
        return t.Build("Qwen35VLBridge");
    }

    /// <summary>Qwen35VLMoEBridge (Qwen3.5 MoE VL and Qwen3.6 MoE): MoE LM + MoE MTP + vision.</summary>
    public static MappingTable Qwen35VLMoE(ExpertLayouts experts)
    {
        var t = new MappingTableBuilder(ModelPrefixes.VlMegatronLanguage, ModelPrefixes.VlHfLanguage);
        MoeLm(t, experts.Decoder);
        MoeMtp(t, experts.Mtp);
        Qwen3VLVisionMappings.Add(t, deepstack: false);
        return t.Build("Qwen35VLMoEBridge");
    }

    /// <summary>Qwen35Bridge (LM only): dense LM + dense MTP.</summary>
    public static MappingTable Qwen35()
    {
        var t = new MappingTableBuilder(ModelPrefixes.LmMegatronLanguage, ModelPrefixes.LmHfLanguage);
        DenseLm(t);
        DenseMtp(t);
        return t.Build("Qwen35Bridge");
    }

    /// <summary>Qwen35MoEBridge (LM only): MoE LM + MoE MTP.</summary>
    public static MappingTable Qwen35MoE(ExpertLayouts experts)
    {
        var t = new MappingTableBuilder(ModelPrefixes.LmMegatronLanguage, ModelPrefixes.LmHfLanguage);
        MoeLm(t, experts.Decoder);
        MoeMtp(t, experts.Mtp);
        return t.Build("Qwen35MoEBridge");
    }

    /// <summary>The eight attention / GDN rows the dense and MoE language models share, in that order.</summary>
    public static MappingTableBuilder MixerRows(MappingTableBuilder t) => t
        .Replicated("{MP}decoder.layers.*.self_attention.linear_qkv.layer_norm_weight", "{HP}layers.*.input_layernorm.weight")
        .Replicated("{MP}decoder.layers.*.self_attention.q_layernorm.weight", "{HP}layers.*.self_attn.q_norm.weight")
        .Replicated("{MP}decoder.layers.*.self_attention.k_layernorm.weight", "{HP}layers.*.self_attn.k_norm.weight")
        .Row("{MP}decoder.layers.*.self_attention.linear_proj.weight", "{HP}layers.*.self_attn.o_proj.weight")
        .Replicated("{MP}decoder.layers.*.self_attention.in_proj.layer_norm_weight", "{HP}layers.*.input_layernorm.weight")
        .Row("{MP}decoder.layers.*.self_attention.out_proj.weight", "{HP}layers.*.linear_attn.out_proj.weight")
        .Column("{MP}decoder.layers.*.self_attention.A_log", "{HP}layers.*.linear_attn.A_log")
        .Column("{MP}decoder.layers.*.self_attention.dt_bias", "{HP}layers.*.linear_attn.dt_bias");

    /// <summary>
    /// Dense language model. The two aliases are the separate-norm names of the norms that the TransformerEngine layers
    /// built here fuse into <c>linear_qkv</c> / <c>in_proj</c> and <c>linear_fc1</c> (<c>layer_norm_weight</c>).
    /// </summary>
    public static MappingTableBuilder DenseLm(MappingTableBuilder t)
    {
        t.Column("{MP}embedding.word_embeddings.weight", "{HP}embed_tokens.weight")
            .Replicated("{MP}decoder.final_layernorm.weight", "{HP}norm.weight")
            .Replicated("{MP}decoder.layers.*.mlp.linear_fc1.layer_norm_weight", "{HP}layers.*.post_attention_layernorm.weight")
            .Row("{MP}decoder.layers.*.mlp.linear_fc2.weight", "{HP}layers.*.mlp.down_proj.weight");
        MixerRows(t);
        t.Column("{MP}output_layer.weight", "lm_head.weight");
        AttentionQkv(t);
        t.GatedMlp("{MP}decoder.layers.*.mlp.linear_fc1.weight", "{HP}layers.*.mlp.gate_proj.weight", "{HP}layers.*.mlp.up_proj.weight");
        GdnFusedRows(t);
        return t
            .Alias("{MP}decoder.layers.*.input_layernorm.weight", "{HP}layers.*.input_layernorm.weight")
            .Alias("{MP}decoder.layers.*.pre_mlp_layernorm.weight", "{HP}layers.*.post_attention_layernorm.weight");
    }

    /// <summary>MoE language model (every layer MoE); routed experts in the checkpoint's layout, then the shared expert.</summary>
    public static MappingTableBuilder MoeLm(MappingTableBuilder t, ExpertLayout experts)
    {
        t.Column("{MP}embedding.word_embeddings.weight", "{HP}embed_tokens.weight")
            .Column("{MP}output_layer.weight", "lm_head.weight")
            .Replicated("{MP}decoder.final_layernorm.weight", "{HP}norm.weight")
            .Replicated("{MP}decoder.layers.*.mlp.router.weight", "{HP}layers.*.mlp.gate.weight")
            .Replicated("{MP}decoder.layers.*.pre_mlp_layernorm.weight", "{HP}layers.*.post_attention_layernorm.weight");
        MixerRows(t);
        AttentionQkv(t);
        GdnFusedRows(t);
        ExpertRows.RoutedExperts(t, experts);
        return t
            .GatedMlp("{MP}decoder.layers.*.mlp.shared_experts.linear_fc1.weight",
                "{HP}layers.*.mlp.shared_expert.gate_proj.weight", "{HP}layers.*.mlp.shared_expert.up_proj.weight")
            .Row("{MP}decoder.layers.*.mlp.shared_experts.linear_fc2.weight", "{HP}layers.*.mlp.shared_expert.down_proj.weight")
            .Replicated("{MP}decoder.layers.*.mlp.shared_experts.gate_weight", "{HP}layers.*.mlp.shared_expert_gate.weight")
            .Alias("{MP}decoder.layers.*.input_layernorm.weight", "{HP}layers.*.input_layernorm.weight");
    }

    /// <summary>The fused attention projection of the decoder's attention layers.</summary>
    private static MappingTableBuilder AttentionQkv(MappingTableBuilder t) => t
        .Qkv("{MP}decoder.layers.*.self_attention.linear_qkv.weight",
            "{HP}layers.*.self_attn.q_proj.weight", "{HP}layers.*.self_attn.k_proj.weight", "{HP}layers.*.self_attn.v_proj.weight");

    /// <summary>The GDN rows that fuse or change HF tensors: conv1d, in_proj and the zero-centred output norm.</summary>
    private static MappingTableBuilder GdnFusedRows(MappingTableBuilder t) => t
        .GdnConv1d("{MP}decoder.layers.*.self_attention.conv1d.weight", "{HP}layers.*.linear_attn.conv1d.weight")
        .GdnInProj("{MP}decoder.layers.*.self_attention.in_proj.weight",
            "{HP}layers.*.linear_attn.in_proj_qkv.weight", "{HP}layers.*.linear_attn.in_proj_z.weight",
            "{HP}layers.*.linear_attn.in_proj_b.weight", "{HP}layers.*.linear_attn.in_proj_a.weight")
        .ZeroCenteredNorm("{MP}decoder.layers.*.self_attention.out_norm.weight", "{HP}layers.*.linear_attn.norm.weight");

    /// <summary>Dense MTP (several rows are hard-wired to MTP layer 0, as in Megatron-Bridge's Qwen3.5 bridge).</summary>
    public static MappingTableBuilder DenseMtp(MappingTableBuilder t) => MtpCommon(t)
        .Replicated("{MP}mtp.layers.0.mtp_model_layer.mlp.linear_fc1.layer_norm_weight", "mtp.layers.0.post_attention_layernorm.weight")
        .Row("{MP}mtp.layers.0.mtp_model_layer.mlp.linear_fc2.weight", "mtp.layers.0.mlp.down_proj.weight")
        .Qkv("{MP}mtp.layers.*.mtp_model_layer.self_attention.linear_qkv.weight",
            "mtp.layers.*.self_attn.q_proj.weight", "mtp.layers.*.self_attn.k_proj.weight", "mtp.layers.*.self_attn.v_proj.weight")
        .GatedMlp("{MP}mtp.layers.0.mtp_model_layer.mlp.linear_fc1.weight", "mtp.layers.0.mlp.gate_proj.weight", "mtp.layers.0.mlp.up_proj.weight");

    /// <summary>MoE MTP; only the grouped-GEMM expert names are mapped (as in Megatron-Bridge).</summary>
    public static MappingTableBuilder MoeMtp(MappingTableBuilder t, ExpertLayout experts)
    {
        MtpCommon(t)
            .Replicated("{MP}mtp.layers.0.mtp_model_layer.mlp.router.weight", "mtp.layers.0.mlp.gate.weight")
            .Replicated("{MP}mtp.layers.0.mtp_model_layer.pre_mlp_layernorm.weight", "mtp.layers.0.post_attention_layernorm.weight")
            .Qkv("{MP}mtp.layers.*.mtp_model_layer.self_attention.linear_qkv.weight",
                "mtp.layers.*.self_attn.q_proj.weight", "mtp.layers.*.self_attn.k_proj.weight", "mtp.layers.*.self_attn.v_proj.weight")
            .GatedMlp("{MP}mtp.layers.*.mtp_model_layer.mlp.shared_experts.linear_fc1.weight",
                "mtp.layers.*.mlp.shared_expert.gate_proj.weight", "mtp.layers.*.mlp.shared_expert.up_proj.weight")
            .Row("{MP}mtp.layers.*.mtp_model_layer.mlp.shared_experts.linear_fc2.weight", "mtp.layers.*.mlp.shared_expert.down_proj.weight")
            .Replicated("{MP}mtp.layers.0.mtp_model_layer.mlp.shared_experts.gate_weight", "mtp.layers.0.mlp.shared_expert_gate.weight");
        return experts == ExpertLayout.PerExpert
            ? t.ExpertFc1("{MP}mtp.layers.*.mtp_model_layer.mlp.experts.linear_fc1.weight*", experts,
                    "mtp.layers.*.mlp.experts.*.gate_proj.weight", "mtp.layers.*.mlp.experts.*.up_proj.weight")
               .ExpertFc2("{MP}mtp.layers.*.mtp_model_layer.mlp.experts.linear_fc2.weight*", experts, "mtp.layers.*.mlp.experts.*.down_proj.weight")
            : t.ExpertFc1("{MP}mtp.layers.*.mtp_model_layer.mlp.experts.linear_fc1.weight*", experts, "mtp.layers.*.mlp.experts.gate_up_proj")
               .ExpertFc2("{MP}mtp.layers.*.mtp_model_layer.mlp.experts.linear_fc2.weight*", experts, "mtp.layers.*.mlp.experts.down_proj");
    }

    private static MappingTableBuilder MtpCommon(MappingTableBuilder t) => t
        .Column("{MP}mtp.layers.0.eh_proj.weight", "mtp.fc.weight")
        .Replicated("{MP}mtp.layers.0.enorm.weight", "mtp.pre_fc_norm_embedding.weight")
        .Replicated("{MP}mtp.layers.0.hnorm.weight", "mtp.pre_fc_norm_hidden.weight")
        .Replicated("{MP}mtp.layers.0.final_layernorm.weight", "mtp.norm.weight")
        .Replicated("{MP}mtp.layers.0.mtp_model_layer.self_attention.linear_qkv.layer_norm_weight", "mtp.layers.0.input_layernorm.weight")
        .Replicated("{MP}mtp.layers.0.mtp_model_layer.self_attention.q_layernorm.weight", "mtp.layers.0.self_attn.q_norm.weight")
        .Replicated("{MP}mtp.layers.0.mtp_model_layer.self_attention.k_layernorm.weight", "mtp.layers.0.self_attn.k_norm.weight")
        .Row("{MP}mtp.layers.0.mtp_model_layer.self_attention.linear_proj.weight", "mtp.layers.0.self_attn.o_proj.weight");
}
