using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.IO;

namespace MegatronBridge.Config;

/// <summary>
/// A Hugging Face config.json: VL checkpoints nest the language model in <c>text_config</c> and the encoder in
/// <c>vision_config</c>; language-model-only checkpoints are flat. Unknown fields are kept in <see cref="JsonFields.Json"/>.
/// </summary>
public sealed class HfConfig : JsonFields
{
    private HfConfig(JsonObject json, string where) : base(json, where)
    {
        var textJson = Object("text_config");
        Text = new TextConfig(textJson ?? json, textJson is null ? where : where + ": text_config");
        var visionJson = Object("vision_config");
        Vision = visionJson is null ? null : new VisionConfig(visionJson, where + ": vision_config");
    }

    /// <summary>The path (or name) of the config file, for messages.</summary>
    public string Path => Where;

    public static HfConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config.json not found", path);
        MegatronBridge.IO.InputFile.EnsureRegular(path);
        return Parse(File.ReadAllText(path), path);
    }

    public static HfConfig LoadFromFolder(string folder) => Load(System.IO.Path.Combine(folder, "config.json"));

    public static HfConfig Parse(string json, string where)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{where}: not valid JSON ({e.Message})");
        }
        if (node is not JsonObject obj) throw new InvalidInputException($"{where}: the config is not a JSON object");
        return new HfConfig(obj, where);
    }

    /// <summary>The language model's fields: <c>text_config</c>, or the top level for flat configs.</summary>
    public TextConfig Text { get; }
    public VisionConfig? Vision { get; }
    public bool HasTextConfig => Object("text_config") is not null;

    public IReadOnlyList<string> Architectures => StringList("architectures") ?? Array.Empty<string>();
    public string? ModelType => String("model_type");

    /// <summary>Top-level <c>tie_word_embeddings</c> (authoritative for VL checkpoints).</summary>
    public bool? TieWordEmbeddings => Bool("tie_word_embeddings");
    public int? ImageTokenId => Int("image_token_id");
    public int? VideoTokenId => Int("video_token_id");
    public int? VisionStartTokenId => Int("vision_start_token_id");
    public int? VisionEndTokenId => Int("vision_end_token_id");
    public int? AudioTokenId => Int("audio_token_id");
    /// <summary>Top-level dtype ("dtype" in transformers 5, "torch_dtype" before).</summary>
    public string? DType => String("dtype") ?? String("torch_dtype");
}

/// <summary>Language-model fields (text_config, or a flat LM-only config).</summary>
public sealed class TextConfig : JsonFields
{
    public TextConfig(JsonObject json, string where) : base(json, where) { }

    public string? ModelType => String("model_type");
    public int? HiddenSize => Int("hidden_size");
    public int? IntermediateSize => Int("intermediate_size");
    public int? NumHiddenLayers => Int("num_hidden_layers");
    public int? NumAttentionHeads => Int("num_attention_heads");
    public int? NumKeyValueHeads => Int("num_key_value_heads");
    public int? HeadDim => Int("head_dim");
    public int? VocabSize => Int("vocab_size");
    public int? MaxPositionEmbeddings => Int("max_position_embeddings");
    public double? RmsNormEps => Double("rms_norm_eps");
    public double? InitializerRange => Double("initializer_range");
    public bool? AttentionBias => Bool("attention_bias");
    public string? HiddenAct => String("hidden_act");
    public bool? TieWordEmbeddings => Bool("tie_word_embeddings");
    public string? DType => String("dtype") ?? String("torch_dtype");

    // rope: transformers 5 nests these in rope_parameters (rope_scaling is an alias); older configs keep rope_theta flat.
    public JsonObject? RopeParameters => Object("rope_parameters") ?? Object("rope_scaling");
    public double? RopeTheta => Double("rope_theta") ?? ReadRope("rope_theta", ToDouble);
    public double? PartialRotaryFactor => ReadRope("partial_rotary_factor", ToDouble) ?? Double("partial_rotary_factor");
    public IReadOnlyList<int>? MropeSection => ReadRopeList("mrope_section");
    public bool? MropeInterleaved => ReadRope("mrope_interleaved", ToBool);

    // Hybrid layout.
    public IReadOnlyList<string>? LayerTypes => StringList("layer_types");
    public int? FullAttentionInterval => Int("full_attention_interval");

    // Gated DeltaNet.
    public int? LinearConvKernelDim => Int("linear_conv_kernel_dim");
    public int? LinearKeyHeadDim => Int("linear_key_head_dim");
    public int? LinearValueHeadDim => Int("linear_value_head_dim");
    public int? LinearNumKeyHeads => Int("linear_num_key_heads");
    public int? LinearNumValueHeads => Int("linear_num_value_heads");

    // MoE.
    public int? NumExperts => Int("num_experts");
    public int? NumExpertsPerTok => Int("num_experts_per_tok");
    public int? MoeIntermediateSize => Int("moe_intermediate_size");
    public int? SharedExpertIntermediateSize => Int("shared_expert_intermediate_size");
    public double? RouterAuxLossCoef => Double("router_aux_loss_coef");
    public int? DecoderSparseStep => Int("decoder_sparse_step");
    public IReadOnlyList<int>? MlpOnlyLayers => IntList("mlp_only_layers");
    public bool? NormTopkProb => Bool("norm_topk_prob");

    // MTP.
    public int? MtpNumHiddenLayers => Int("mtp_num_hidden_layers") ?? Int("num_nextn_predict_layers");

    // Token ids (may be null in transformers 5 configs; eos may be a list).
    public IReadOnlyList<int>? BosTokenId => IntOrIntList("bos_token_id");
    public IReadOnlyList<int>? EosTokenId => IntOrIntList("eos_token_id");
    public IReadOnlyList<int>? PadTokenId => IntOrIntList("pad_token_id");

    /// <summary>A value inside rope_parameters (or its alias rope_scaling); null when absent or null.</summary>
    private T? ReadRope<T>(string name, Func<JsonNode, string, T> read) where T : struct =>
        RopeParameters is { } r && r.TryGetPropertyValue(name, out var node) && node is not null ? read(node, $"rope_parameters.{name}") : null;

    private IReadOnlyList<int>? ReadRopeList(string name)
    {
        var r = RopeParameters;
        if (r is null || !r.TryGetPropertyValue(name, out var node) || node is null) return null;
        if (node is not JsonArray a) throw new InvalidInputException($"{Where}: rope_parameters.{name} must be a list of integers");
        return a.Select((x, i) => x is not null && x.GetValueKind() == JsonValueKind.Number ? ToInt(x, $"rope_parameters.{name}[{i}]") : throw new InvalidInputException($"{Where}: rope_parameters.{name} must be a list of integers")).ToList();
    }
}

/// <summary>Vision encoder fields (vision_config).</summary>
public sealed class VisionConfig : JsonFields
{
    public VisionConfig(JsonObject json, string where) : base(json, where) { }

    public string? ModelType => String("model_type");
    public int? Depth => Int("depth");
    public int? HiddenSize => Int("hidden_size");
    public int? IntermediateSize => Int("intermediate_size");
    public int? NumHeads => Int("num_heads");
    public int? InChannels => Int("in_channels");
    public int? PatchSize => Int("patch_size");
    public int? TemporalPatchSize => Int("temporal_patch_size");
    public int? SpatialMergeSize => Int("spatial_merge_size");
    public int? OutHiddenSize => Int("out_hidden_size");
    public int? NumPositionEmbeddings => Int("num_position_embeddings");
    public string? HiddenAct => String("hidden_act");
    /// <summary>Absent field means no deepstack mergers (Qwen3.5/3.6).</summary>
    public IReadOnlyList<int> DeepstackVisualIndexes => IntList("deepstack_visual_indexes") ?? Array.Empty<int>();
    public double? RopeTheta => Object("rope_parameters")?["rope_theta"] is { } theta ? ToDouble(theta, "rope_parameters.rope_theta") : null;
}
