using MegatronBridge.Conversion;
using MegatronBridge.Models.Shared;

namespace MegatronBridge.Models.Qwen3VL;

/// <summary>
/// Qwen3-VL mapping tables, in registration order (Megatron-Bridge's Qwen3-VL bridges' <c>mapping_registry</c>): the
/// language model's plain rows, the vision rows, then the fused ones. No MTP, no output gate, no zero-centred norm.
/// docs/mappings.md describes each kind.
/// </summary>
internal static class Qwen3VLMappings
{
    /// <summary>Qwen3VLBridge.</summary>
    public static MappingTable Qwen3VL()
    {
        var t = new MappingTableBuilder(ModelPrefixes.VlMegatronLanguage, ModelPrefixes.VlHfLanguage)
            .Column("{MP}embedding.word_embeddings.weight", "{HP}embed_tokens.weight")
            .Column("{MP}output_layer.weight", "lm_head.weight")
            .Replicated("{MP}decoder.final_layernorm.weight", "{HP}norm.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.linear_qkv.layer_norm_weight", "{HP}layers.*.input_layernorm.weight")
            .Replicated("{MP}decoder.layers.*.mlp.linear_fc1.layer_norm_weight", "{HP}layers.*.post_attention_layernorm.weight")
            .Row("{MP}decoder.layers.*.self_attention.linear_proj.weight", "{HP}layers.*.self_attn.o_proj.weight")
            .Row("{MP}decoder.layers.*.mlp.linear_fc2.weight", "{HP}layers.*.mlp.down_proj.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.q_layernorm.weight", "{HP}layers.*.self_attn.q_norm.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.k_layernorm.weight", "{HP}layers.*.self_attn.k_norm.weight");
        Qwen3VLVisionMappings.Blocks(t);
        Qwen3VLVisionMappings.Deepstack(t);
        Qwen3VLVisionMappings.Merger(t);
        Qkv(t);
        t.GatedMlp("{MP}decoder.layers.*.mlp.linear_fc1.weight", "{HP}layers.*.mlp.gate_proj.weight", "{HP}layers.*.mlp.up_proj.weight");
        Qwen3VLVisionMappings.Specials(t);
        // Separate-norm names of the norms the TransformerEngine layers fuse into linear_qkv and linear_fc1.
        return t
            .Alias("{MP}decoder.layers.*.input_layernorm.weight", "{HP}layers.*.input_layernorm.weight")
            .Alias("{MP}decoder.layers.*.pre_mlp_layernorm.weight", "{HP}layers.*.post_attention_layernorm.weight")
            .Build("Qwen3VLBridge");
    }

    /// <summary>Qwen3VLMoEBridge; Hub checkpoints store experts packed and transposed ([E, H, 2I] / [E, I, H]).</summary>
    public static MappingTable Qwen3VLMoE(ExpertLayouts experts)
    {
        var t = new MappingTableBuilder(ModelPrefixes.VlMegatronLanguage, ModelPrefixes.VlHfLanguage)
            .Column("{MP}embedding.word_embeddings.weight", "{HP}embed_tokens.weight")
            .Column("{MP}output_layer.weight", "lm_head.weight")
            .Replicated("{MP}decoder.final_layernorm.weight", "{HP}norm.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.linear_qkv.layer_norm_weight", "{HP}layers.*.input_layernorm.weight")
            // Registered explicitly by the bridge, but the separate-norm name of the norm fused into linear_qkv.
            .Alias("{MP}decoder.layers.*.input_layernorm.weight", "{HP}layers.*.input_layernorm.weight")
            .Replicated("{MP}decoder.layers.*.pre_mlp_layernorm.weight", "{HP}layers.*.post_attention_layernorm.weight")
            .Row("{MP}decoder.layers.*.self_attention.linear_proj.weight", "{HP}layers.*.self_attn.o_proj.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.q_layernorm.weight", "{HP}layers.*.self_attn.q_norm.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.k_layernorm.weight", "{HP}layers.*.self_attn.k_norm.weight")
            .Replicated("{MP}decoder.layers.*.mlp.router.weight", "{HP}layers.*.mlp.gate.weight");
        Qwen3VLVisionMappings.Blocks(t);
        Qwen3VLVisionMappings.Deepstack(t);
        Qwen3VLVisionMappings.Merger(t);
        Qkv(t);
        ExpertRows.RoutedExperts(t, experts.Decoder);
        Qwen3VLVisionMappings.Specials(t);
        return t.Build("Qwen3VLMoEBridge");
    }

    /// <summary>Attention qkv weight, and its bias for a config with <c>attention_bias</c> (no published Qwen3-VL sets it).</summary>
    private static MappingTableBuilder Qkv(MappingTableBuilder t) => t
        .Qkv("{MP}decoder.layers.*.self_attention.linear_qkv.weight",
            "{HP}layers.*.self_attn.q_proj.weight", "{HP}layers.*.self_attn.k_proj.weight", "{HP}layers.*.self_attn.v_proj.weight")
        .Qkv("{MP}decoder.layers.*.self_attention.linear_qkv.bias",
            "{HP}layers.*.self_attn.q_proj.bias", "{HP}layers.*.self_attn.k_proj.bias", "{HP}layers.*.self_attn.v_proj.bias");
}
