using System.Text.Json.Nodes;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Benchmarks;

/// <summary>
/// The HF tensor names and shapes of a Qwen3.5 / Qwen3.6 VL checkpoint, computed from its config.json the way
/// transformers lays them out (packed experts, gated attention, GDN projections, vision tower, MTP), all bf16.
/// </summary>
internal static class BenchTensorList
{
    public static IReadOnlyList<TensorMeta> FromConfig(JsonObject config)
    {
        var text = config["text_config"] as JsonObject ?? throw new InvalidInputException("config.json: no text_config");
        var vision = config["vision_config"] as JsonObject ?? throw new InvalidInputException("config.json: no vision_config");
        long hidden = Int(text, "hidden_size");
        long vocab = Int(text, "vocab_size");
        var layerTypes = (text["layer_types"] as JsonArray ?? throw new InvalidInputException("config.json: text_config.layer_types missing"))
            .Select(t => t?.GetValue<string>() ?? throw new InvalidInputException("config.json: null layer type")).ToList();
        var list = new List<TensorMeta>();
        void Add(string name, params long[] dims) => list.Add(new TensorMeta(name, DType.BF16, new TensorShape(dims)));

        const string lm = "model.language_model.";
        Add(lm + "embed_tokens.weight", vocab, hidden);
        for (int i = 0; i < layerTypes.Count; i++)
        {
            string prefix = $"{lm}layers.{i}.";
            if (layerTypes[i] == "linear_attention") AddGdn(text, prefix, hidden, Add);
            else if (layerTypes[i] == "full_attention") AddAttention(text, prefix, hidden, Add);
            else throw new InvalidInputException($"config.json: layer {i} has unknown type '{layerTypes[i]}'");
            AddMlp(text, prefix, hidden, Add);
        }
        Add(lm + "norm.weight", hidden);
        if (text["tie_word_embeddings"]?.GetValue<bool>() != true && config["tie_word_embeddings"]?.GetValue<bool>() != true)
            Add("lm_head.weight", vocab, hidden);

        AddVision(vision, Add);

        long mtpLayers = OptionalInt(text, "mtp_num_hidden_layers") ?? 0;
        if (mtpLayers > 0)
        {
            Add("mtp.fc.weight", hidden, 2 * hidden);
            for (int i = 0; i < mtpLayers; i++)
            {
                AddAttention(text, $"mtp.layers.{i}.", hidden, Add);
                AddMlp(text, $"mtp.layers.{i}.", hidden, Add);
            }
            Add("mtp.norm.weight", hidden);
            Add("mtp.pre_fc_norm_embedding.weight", hidden);
            Add("mtp.pre_fc_norm_hidden.weight", hidden);
        }
        return list;
    }

    private static void AddGdn(JsonObject text, string prefix, long hidden, Action<string, long[]> add)
    {
        long keyHeads = Int(text, "linear_num_key_heads"), valueHeads = Int(text, "linear_num_value_heads");
        long keyDim = keyHeads * Int(text, "linear_key_head_dim");
        long valueHeadDim = Int(text, "linear_value_head_dim");
        long valueDim = valueHeads * valueHeadDim;
        long convDim = 2 * keyDim + valueDim;
        string a = prefix + "linear_attn.";
        add(prefix + "input_layernorm.weight", [hidden]);
        add(a + "A_log", [valueHeads]);
        add(a + "conv1d.weight", [convDim, 1, Int(text, "linear_conv_kernel_dim")]);
        add(a + "dt_bias", [valueHeads]);
        add(a + "in_proj_a.weight", [valueHeads, hidden]);
        add(a + "in_proj_b.weight", [valueHeads, hidden]);
        add(a + "in_proj_qkv.weight", [convDim, hidden]);
        add(a + "in_proj_z.weight", [valueDim, hidden]);
        add(a + "norm.weight", [valueHeadDim]);
        add(a + "out_proj.weight", [hidden, valueDim]);
    }

    private static void AddAttention(JsonObject text, string prefix, long hidden, Action<string, long[]> add)
    {
        long headDim = Int(text, "head_dim");
        long heads = Int(text, "num_attention_heads"), kvHeads = Int(text, "num_key_value_heads");
        bool gated = text["attn_output_gate"]?.GetValue<bool>() ?? true;
        string a = prefix + "self_attn.";
        add(prefix + "input_layernorm.weight", [hidden]);
        add(a + "k_norm.weight", [headDim]);
        add(a + "k_proj.weight", [kvHeads * headDim, hidden]);
        add(a + "o_proj.weight", [hidden, heads * headDim]);
        add(a + "q_norm.weight", [headDim]);
        add(a + "q_proj.weight", [heads * headDim * (gated ? 2 : 1), hidden]);
        add(a + "v_proj.weight", [kvHeads * headDim, hidden]);
    }

    private static void AddMlp(JsonObject text, string prefix, long hidden, Action<string, long[]> add)
    {
        string m = prefix + "mlp.";
        add(prefix + "post_attention_layernorm.weight", [hidden]);
        long experts = OptionalInt(text, "num_experts") ?? 0;
        if (experts == 0)
        {
            long ffn = Int(text, "intermediate_size");
            add(m + "down_proj.weight", [hidden, ffn]);
            add(m + "gate_proj.weight", [ffn, hidden]);
            add(m + "up_proj.weight", [ffn, hidden]);
            return;
        }
        long moe = Int(text, "moe_intermediate_size"), shared = Int(text, "shared_expert_intermediate_size");
        add(m + "experts.down_proj", [experts, hidden, moe]);
        add(m + "experts.gate_up_proj", [experts, 2 * moe, hidden]);
        add(m + "gate.weight", [experts, hidden]);
        add(m + "shared_expert.down_proj.weight", [hidden, shared]);
        add(m + "shared_expert.gate_proj.weight", [shared, hidden]);
        add(m + "shared_expert.up_proj.weight", [shared, hidden]);
        add(m + "shared_expert_gate.weight", [1, hidden]);
    }

    private static void AddVision(JsonObject vision, Action<string, long[]> add)
    {
        long h = Int(vision, "hidden_size"), ffn = Int(vision, "intermediate_size"), depth = Int(vision, "depth");
        long merge = Int(vision, "spatial_merge_size"), mergedDim = h * merge * merge;
        const string v = "model.visual.";
        for (int i = 0; i < depth; i++)
        {
            string b = $"{v}blocks.{i}.";
            add(b + "attn.proj.bias", [h]);
            add(b + "attn.proj.weight", [h, h]);
            add(b + "attn.qkv.bias", [3 * h]);
            add(b + "attn.qkv.weight", [3 * h, h]);
            add(b + "mlp.linear_fc1.bias", [ffn]);
            add(b + "mlp.linear_fc1.weight", [ffn, h]);
            add(b + "mlp.linear_fc2.bias", [h]);
            add(b + "mlp.linear_fc2.weight", [h, ffn]);
            add(b + "norm1.bias", [h]);
            add(b + "norm1.weight", [h]);
            add(b + "norm2.bias", [h]);
            add(b + "norm2.weight", [h]);
        }
        add(v + "merger.linear_fc1.bias", [mergedDim]);
        add(v + "merger.linear_fc1.weight", [mergedDim, mergedDim]);
        add(v + "merger.linear_fc2.bias", [Int(vision, "out_hidden_size")]);
        add(v + "merger.linear_fc2.weight", [Int(vision, "out_hidden_size"), mergedDim]);
        add(v + "merger.norm.bias", [h]);
        add(v + "merger.norm.weight", [h]);
        add(v + "patch_embed.proj.bias", [h]);
        add(v + "patch_embed.proj.weight", [h, Int(vision, "in_channels"), Int(vision, "temporal_patch_size"), Int(vision, "patch_size"), Int(vision, "patch_size")]);
        add(v + "pos_embed.weight", [Int(vision, "num_position_embeddings"), h]);
    }

    private static long Int(JsonObject obj, string field) =>
        OptionalInt(obj, field) ?? throw new InvalidInputException($"config.json: field '{field}' is missing or null");

    // Parsed JSON holds JsonElement numbers, edited JSON holds CLR ints: read both.
    private static long? OptionalInt(JsonObject obj, string field) => obj[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out long l) => l,
        JsonValue v when v.TryGetValue(out int i) => i,
        var other => throw new InvalidInputException($"config.json: field '{field}' is not an integer ({other.ToJsonString()})"),
    };
}
