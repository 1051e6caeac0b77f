using MegatronBridge.Conversion;
using MegatronBridge.Models.Qwen35;

namespace MegatronBridge.Models.Qwen3VL;

/// <summary>Qwen3-VL mapping tables (bridge-spec §3.7, §3.8), in registration order. No MTP, no gate, no zero-centred norm.</summary>
public static class Qwen3VLMappings
{
    private const string MP = "language_model.";
    private const string HP = "model.language_model.";

    /// <summary>Qwen3VLBridge.</summary>
    public static MappingTable Qwen3VL()
    {
        var t = new MappingTableBuilder(MP, HP)
            .Column("{MP}embedding.word_embeddings.weight", "{HP}embed_tokens.weight")
            .Column("{MP}output_layer.weight", "lm_head.weight")
            .Replicated("{MP}decoder.final_layernorm.weight", "{HP}norm.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.linear_qkv.layer_norm_weight", "{HP}layers.*.input_layernorm.weight")
            .Replicated("{MP}decoder.layers.*.mlp.linear_fc1.layer_norm_weight", "{HP}layers.*.post_attention_layernorm.weight")
            .Row("{MP}decoder.layers.*.self_attention.linear_proj.weight", "{HP}layers.*.self_attn.o_proj.weight")
            .Row("{MP}decoder.layers.*.mlp.linear_fc2.weight", "{HP}layers.*.mlp.down_proj.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.q_layernorm.weight", "{HP}layers.*.self_attn.q_norm.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.k_layernorm.weight", "{HP}layers.*.self_attn.k_norm.weight");
        Qwen3VLVisionMappings.Deepstack(Qwen3VLVisionMappings.Blocks(t));
        Qwen3VLVisionMappings.Merger(t);
        return Qkv(t)
            .GatedMlp("{MP}decoder.layers.*.mlp.linear_fc1.weight", "{HP}layers.*.mlp.gate_proj.weight", "{HP}layers.*.mlp.up_proj.weight")
            .Pipe(VisionSpecials)
            .Replicated("{MP}decoder.layers.*.input_layernorm.weight", "{HP}layers.*.input_layernorm.weight")
            .Replicated("{MP}decoder.layers.*.pre_mlp_layernorm.weight", "{HP}layers.*.post_attention_layernorm.weight")
            .Build("Qwen3VLBridge");
    }

    /// <summary>Qwen3VLMoEBridge; Hub checkpoints store experts packed and transposed ([E, H, 2I] / [E, I, H]).</summary>
    public static MappingTable Qwen3VLMoE(ExpertLayouts experts)
    {
        var t = new MappingTableBuilder(MP, HP)
            .Column("{MP}embedding.word_embeddings.weight", "{HP}embed_tokens.weight")
            .Column("{MP}output_layer.weight", "lm_head.weight")
            .Replicated("{MP}decoder.final_layernorm.weight", "{HP}norm.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.linear_qkv.layer_norm_weight", "{HP}layers.*.input_layernorm.weight")
            .Replicated("{MP}decoder.layers.*.input_layernorm.weight", "{HP}layers.*.input_layernorm.weight")
            .Replicated("{MP}decoder.layers.*.pre_mlp_layernorm.weight", "{HP}layers.*.post_attention_layernorm.weight")
            .Row("{MP}decoder.layers.*.self_attention.linear_proj.weight", "{HP}layers.*.self_attn.o_proj.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.q_layernorm.weight", "{HP}layers.*.self_attn.q_norm.weight")
            .Replicated("{MP}decoder.layers.*.self_attention.k_layernorm.weight", "{HP}layers.*.self_attn.k_norm.weight")
            .Replicated("{MP}decoder.layers.*.mlp.router.weight", "{HP}layers.*.mlp.gate.weight");
        Qwen3VLVisionMappings.Deepstack(Qwen3VLVisionMappings.Blocks(t));
        Qwen3VLVisionMappings.Merger(t);
        Qkv(t);
        Qwen35Mappings.RoutedExperts(t, experts.Decoder);
        return VisionSpecials(t).Build("Qwen3VLMoEBridge");
    }

    private static MappingTableBuilder Qkv(MappingTableBuilder t) => t
        .Qkv("{MP}decoder.layers.*.self_attention.linear_qkv.weight",
            "{HP}layers.*.self_attn.q_proj.weight", "{HP}layers.*.self_attn.k_proj.weight", "{HP}layers.*.self_attn.v_proj.weight")
        .Qkv("{MP}decoder.layers.*.self_attention.linear_qkv.bias",
            "{HP}layers.*.self_attn.q_proj.bias", "{HP}layers.*.self_attn.k_proj.bias", "{HP}layers.*.self_attn.v_proj.bias");

    private static MappingTableBuilder VisionSpecials(MappingTableBuilder t) => t
        .ConcatenatedQkv("vision_model.decoder.layers.*.self_attention.linear_qkv.weight", "model.visual.blocks.*.attn.qkv.weight")
        .ConcatenatedQkv("vision_model.decoder.layers.*.self_attention.linear_qkv.bias", "model.visual.blocks.*.attn.qkv.bias")
        .Replicated("vision_model.patch_embed.proj.**", "model.visual.patch_embed.proj.**")
        .Replicated("vision_model.pos_embed.weight", "model.visual.pos_embed.weight");

    private static MappingTableBuilder Pipe(this MappingTableBuilder t, Func<MappingTableBuilder, MappingTableBuilder> f) => f(t);
}
