using MegatronBridge.Conversion;

namespace MegatronBridge.Models.Shared;

/// <summary>
/// The vision encoder rows shared by every VL bridge (Megatron-Bridge's Qwen3-VL and Qwen3.5-VL vision mappings);
/// deepstack mergers for Qwen3-VL only. Megatron <c>vision_model.</c> / HF <c>model.visual.</c>
/// (<see cref="ModelPrefixes"/>).
/// </summary>
internal static class Qwen3VLVisionMappings
{
    public static MappingTableBuilder Add(MappingTableBuilder t, bool deepstack)
    {
        Blocks(t);
        if (deepstack) Deepstack(t);
        Merger(t);
        return Specials(t);
    }

    /// <summary>Transformer blocks: projections, MLP and the two LayerNorms fused into linear_qkv / linear_fc1.</summary>
    public static MappingTableBuilder Blocks(MappingTableBuilder t) => t
        .Row("vision_model.decoder.layers.*.self_attention.linear_proj.weight", "model.visual.blocks.*.attn.proj.weight")
        .Row("vision_model.decoder.layers.*.self_attention.linear_proj.bias", "model.visual.blocks.*.attn.proj.bias")
        .Column("vision_model.decoder.layers.*.mlp.linear_fc1.weight", "model.visual.blocks.*.mlp.linear_fc1.weight")
        .Column("vision_model.decoder.layers.*.mlp.linear_fc1.bias", "model.visual.blocks.*.mlp.linear_fc1.bias")
        .Row("vision_model.decoder.layers.*.mlp.linear_fc2.weight", "model.visual.blocks.*.mlp.linear_fc2.weight")
        .Row("vision_model.decoder.layers.*.mlp.linear_fc2.bias", "model.visual.blocks.*.mlp.linear_fc2.bias")
        .Replicated("vision_model.decoder.layers.*.self_attention.linear_qkv.layer_norm_weight", "model.visual.blocks.*.norm1.weight")
        .Replicated("vision_model.decoder.layers.*.self_attention.linear_qkv.layer_norm_bias", "model.visual.blocks.*.norm1.bias")
        .Replicated("vision_model.decoder.layers.*.mlp.linear_fc1.layer_norm_weight", "model.visual.blocks.*.norm2.weight")
        .Replicated("vision_model.decoder.layers.*.mlp.linear_fc1.layer_norm_bias", "model.visual.blocks.*.norm2.bias");

    /// <summary>Deepstack mergers (Qwen3-VL only).</summary>
    public static MappingTableBuilder Deepstack(MappingTableBuilder t) => t
        .Replicated("vision_model.decoder.deepstack_merger_list.*.patch_norm.weight", "model.visual.deepstack_merger_list.*.norm.weight")
        .Replicated("vision_model.decoder.deepstack_merger_list.*.patch_norm.bias", "model.visual.deepstack_merger_list.*.norm.bias")
        .Column("vision_model.decoder.deepstack_merger_list.*.linear_fc1.weight", "model.visual.deepstack_merger_list.*.linear_fc1.weight")
        .Column("vision_model.decoder.deepstack_merger_list.*.linear_fc1.bias", "model.visual.deepstack_merger_list.*.linear_fc1.bias")
        .Row("vision_model.decoder.deepstack_merger_list.*.linear_fc2.weight", "model.visual.deepstack_merger_list.*.linear_fc2.weight")
        .Row("vision_model.decoder.deepstack_merger_list.*.linear_fc2.bias", "model.visual.deepstack_merger_list.*.linear_fc2.bias");

    /// <summary>The patch merger after the last block.</summary>
    public static MappingTableBuilder Merger(MappingTableBuilder t) => t
        .Replicated("vision_model.merger.patch_norm.**", "model.visual.merger.norm.**")
        .Column("vision_model.merger.linear_fc1.weight", "model.visual.merger.linear_fc1.weight")
        .Column("vision_model.merger.linear_fc1.bias", "model.visual.merger.linear_fc1.bias")
        .Row("vision_model.merger.linear_fc2.weight", "model.visual.merger.linear_fc2.weight")
        .Row("vision_model.merger.linear_fc2.bias", "model.visual.merger.linear_fc2.bias");

    /// <summary>The rows Megatron-Bridge registers after the plain ones: fused attention qkv, patch and position embeddings.</summary>
    public static MappingTableBuilder Specials(MappingTableBuilder t) => t
        .ConcatenatedQkv("vision_model.decoder.layers.*.self_attention.linear_qkv.weight", "model.visual.blocks.*.attn.qkv.weight")
        .ConcatenatedQkv("vision_model.decoder.layers.*.self_attention.linear_qkv.bias", "model.visual.blocks.*.attn.qkv.bias")
        .Replicated("vision_model.patch_embed.proj.**", "model.visual.patch_embed.proj.**")
        .Replicated("vision_model.pos_embed.weight", "model.visual.pos_embed.weight");
}
