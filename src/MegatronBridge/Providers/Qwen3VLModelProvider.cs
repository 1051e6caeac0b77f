using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>Qwen3-VL dense vision-language provider (plain attention in every layer; defaults as Megatron-Bridge's
/// <c>Qwen3VLModelProvider</c> declares them).</summary>
internal record Qwen3VLModelProvider : VisionLanguageModelProvider
{
    public Qwen3VLModelProvider()
    {
        RotaryPercent = 1.0;
        RotaryBase = 5_000_000.0;
        MropeSection = new[] { 24, 20, 20 };
        ImageTokenId = 151655;
        VideoTokenId = 151656;
        VisionStartTokenId = 151652;
        VisionEndTokenId = 151653;
        BosTokenId = 151643;
        EosTokenId = 151645;
    }

    [JsonIgnore] public override string ProviderName => "Qwen3VLModelProvider";

    // Class defaults (the vision tower itself is configured from the HF vision_config).
    public int InChannels { get; init; } = 3;
    public int NumPositionEmbeddings { get; init; } = 2304;
    public int OutHiddenSize { get; init; } = 2304;
    /// <summary>Class default; the HF vision_config's list is what the model uses (see <see cref="GptModelProvider.Vision"/>).</summary>
    public IReadOnlyList<int> DeepstackVisualIndexes { get; init; } = new[] { 8, 16, 24 };
    public bool ApplyRopeFusion { get; init; }
    public bool AddEncoder { get; init; } = true;
    public bool AddDecoder { get; init; } = true;
    public string VisionCudaGraphImpl { get; init; } = "none";
    public IReadOnlyList<string> VisionCudaGraphScope { get; init; } = Array.Empty<string>();
    public int? MaxVisionCudaGraphSeqLength { get; init; }
}
