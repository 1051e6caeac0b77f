using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>
/// Fields shared by the Qwen3.5/3.6 and Qwen3-VL vision-language providers (the Python classes declare them
/// separately; the C# records share them here). Token ids default to the Qwen3.5 values; Qwen3-VL overrides them.
/// </summary>
internal abstract record VisionLanguageModelProvider : GptModelProvider
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
    public int? HeadDim { get; init; }
    public int? ImageTokenId { get; init; }
    public int? VideoTokenId { get; init; }
    public int? VisionStartTokenId { get; init; }
    public int? VisionEndTokenId { get; init; }
    // Class defaults only: the bridges pass the HF vision config instead, so these are not read from config.json.
    public int SpatialMergeSize { get; init; } = 2;
    public int TemporalPatchSize { get; init; } = 2;
    public int PatchSize { get; init; } = 16;
    public int LanguageMaxSequenceLength { get; init; } = 2048;
    public bool ApplyRotaryPosEmbInFp32 { get; init; }
    public bool FreezeLanguageModel { get; init; }
    public bool FreezeVisionModel { get; init; }
    public bool FreezeVisionProjection { get; init; }
    public bool BiasActivationFusion { get; init; } = true;
    public bool UseHfVisionModel { get; init; }
    public bool VisionDpWhenCp { get; init; }
}
