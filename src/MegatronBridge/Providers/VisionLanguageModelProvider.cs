using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>
/// Fields shared by the Qwen3.5/3.6 and Qwen3-VL vision-language providers (the Python classes declare them
/// separately; the C# records share them here). Token ids default to the Qwen3.5 values; Qwen3-VL overrides them.
/// </summary>
public abstract record VisionLanguageModelProvider : GptModelProvider
{
    protected VisionLanguageModelProvider()
    {
        PositionEmbeddingType = "mrope";
        AttentionDropout = 0.0;
        AttentionSoftmaxInFp32 = true;
        QkLayernorm = true;
        ScatterEmbeddingSequenceParallel = false;
    }

    /// <summary>Informational in Python (kv_channels is what the model uses).</summary>
    [JsonPropertyName("head_dim")] public int? HeadDim { get; init; }
    [JsonPropertyName("image_token_id")] public int? ImageTokenId { get; init; }
    [JsonPropertyName("video_token_id")] public int? VideoTokenId { get; init; }
    [JsonPropertyName("vision_start_token_id")] public int? VisionStartTokenId { get; init; }
    [JsonPropertyName("vision_end_token_id")] public int? VisionEndTokenId { get; init; }
    // Class defaults only: the bridges pass the HF vision config instead, so these are not read from config.json.
    [JsonPropertyName("spatial_merge_size")] public int SpatialMergeSize { get; init; } = 2;
    [JsonPropertyName("temporal_patch_size")] public int TemporalPatchSize { get; init; } = 2;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 16;
    [JsonPropertyName("language_max_sequence_length")] public int LanguageMaxSequenceLength { get; init; } = 2048;
    [JsonPropertyName("apply_rotary_pos_emb_in_fp32")] public bool ApplyRotaryPosEmbInFp32 { get; init; }
    [JsonPropertyName("freeze_language_model")] public bool FreezeLanguageModel { get; init; }
    [JsonPropertyName("freeze_vision_model")] public bool FreezeVisionModel { get; init; }
    [JsonPropertyName("freeze_vision_projection")] public bool FreezeVisionProjection { get; init; }
    [JsonPropertyName("bias_activation_fusion")] public bool BiasActivationFusion { get; init; } = true;
    [JsonPropertyName("use_hf_vision_model")] public bool UseHfVisionModel { get; init; }
    [JsonPropertyName("vision_dp_when_cp")] public bool VisionDpWhenCp { get; init; }
}
