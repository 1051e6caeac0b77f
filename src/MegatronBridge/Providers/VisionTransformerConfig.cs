using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>
/// The vision encoder's <c>Qwen3VLTransformerConfig</c> (Megatron-Bridge's <c>get_vision_model_config</c>), built from
/// the HF vision_config. It is a fresh config, not derived from the language model: params_dtype stays float32 and bf16
/// false.
/// </summary>
public sealed record VisionTransformerConfig
{
    [JsonPropertyName("num_layers")] public required int NumLayers { get; init; }
    [JsonPropertyName("hidden_size")] public required int HiddenSize { get; init; }
    [JsonPropertyName("num_attention_heads")] public required int NumAttentionHeads { get; init; }
    [JsonPropertyName("ffn_hidden_size")] public required int FfnHiddenSize { get; init; }
    [JsonPropertyName("kv_channels")] public int KvChannels => HiddenSize / NumAttentionHeads;
    /// <summary>No grouped-query attention in the vision tower.</summary>
    [JsonPropertyName("num_query_groups")] public int NumQueryGroups => NumAttentionHeads;
    [JsonPropertyName("add_bias_linear")] public bool AddBiasLinear { get; init; } = true;
    [JsonPropertyName("add_qkv_bias")] public bool AddQkvBias { get; init; } = true;
    [JsonPropertyName("gated_linear_unit")] public bool GatedLinearUnit { get; init; }
    /// <summary>gelu with the tanh approximation.</summary>
    [JsonPropertyName("activation_func")] public string ActivationFunc { get; init; } = "gelu_pytorch_tanh";
    [JsonPropertyName("normalization")] public string Normalization { get; init; } = "LayerNorm";
    [JsonPropertyName("layernorm_epsilon")] public double LayernormEpsilon { get; init; } = 1e-6;
    [JsonPropertyName("layernorm_zero_centered_gamma")] public bool LayernormZeroCenteredGamma { get; init; }
    [JsonPropertyName("attention_output_gate")] public bool AttentionOutputGate { get; init; }
    [JsonPropertyName("patch_size")] public required int PatchSize { get; init; }
    [JsonPropertyName("temporal_patch_size")] public required int TemporalPatchSize { get; init; }
    [JsonPropertyName("in_channels")] public required int InChannels { get; init; }
    [JsonPropertyName("spatial_merge_size")] public required int SpatialMergeSize { get; init; }
    [JsonPropertyName("num_position_embeddings")] public required int NumPositionEmbeddings { get; init; }
    [JsonPropertyName("out_hidden_size")] public required int OutHiddenSize { get; init; }
    /// <summary>Vision layers whose output feeds a deepstack merger (Qwen3-VL); empty for Qwen3.5/3.6.</summary>
    [JsonPropertyName("deepstack_visual_indexes")] public IReadOnlyList<int> DeepstackVisualIndexes { get; init; } = Array.Empty<int>();
    [JsonPropertyName("tensor_model_parallel_size")] public int TensorModelParallelSize { get; init; } = 1;
    [JsonPropertyName("pipeline_model_parallel_size")] public int PipelineModelParallelSize { get; init; } = 1;
    [JsonPropertyName("context_parallel_size")] public int ContextParallelSize { get; init; } = 1;
    [JsonPropertyName("sequence_parallel")] public bool SequenceParallel { get; init; }
    [JsonPropertyName("hetereogenous_dist_checkpoint")] public bool HetereogenousDistCheckpoint { get; init; }
    [JsonPropertyName("params_dtype")] public string ParamsDtype { get; init; } = "float32";
    [JsonPropertyName("bf16")] public bool Bf16 { get; init; }

    /// <summary>Hidden size after the spatial merge (the merger's input width, m² · hidden).</summary>
    [JsonIgnore] public int MergedHiddenSize => SpatialMergeSize * SpatialMergeSize * HiddenSize;
    /// <summary>Flattened patch length C · T · P · P (the patch-embedding input width).</summary>
    [JsonIgnore] public int PatchInputSize => InChannels * TemporalPatchSize * PatchSize * PatchSize;
}
