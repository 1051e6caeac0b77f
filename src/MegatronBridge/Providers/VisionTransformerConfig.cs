using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>
/// The vision encoder's <c>Qwen3VLTransformerConfig</c> (Megatron-Bridge's <c>get_vision_model_config</c>), built from
/// the HF vision_config. It is a fresh config, not derived from the language model: params_dtype stays float32 and bf16
/// false.
/// </summary>
public sealed record VisionTransformerConfig
{
    public required int NumLayers { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int FfnHiddenSize { get; init; }
    public int KvChannels => HiddenSize / NumAttentionHeads;
    /// <summary>No grouped-query attention in the vision tower.</summary>
    public int NumQueryGroups => NumAttentionHeads;
    public bool AddBiasLinear { get; init; } = true;
    public bool AddQkvBias { get; init; } = true;
    public bool GatedLinearUnit { get; init; }
    /// <summary>gelu with the tanh approximation.</summary>
    public string ActivationFunc { get; init; } = "gelu_pytorch_tanh";
    public string Normalization { get; init; } = "LayerNorm";
    public double LayernormEpsilon { get; init; } = 1e-6;
    public bool LayernormZeroCenteredGamma { get; init; }
    public bool AttentionOutputGate { get; init; }
    public required int PatchSize { get; init; }
    public required int TemporalPatchSize { get; init; }
    public required int InChannels { get; init; }
    public required int SpatialMergeSize { get; init; }
    public required int NumPositionEmbeddings { get; init; }
    public required int OutHiddenSize { get; init; }
    /// <summary>Vision layers whose output feeds a deepstack merger (Qwen3-VL); empty for Qwen3.5/3.6.</summary>
    public IReadOnlyList<int> DeepstackVisualIndexes { get; init; } = Array.Empty<int>();
    public int TensorModelParallelSize { get; init; } = 1;
    public int PipelineModelParallelSize { get; init; } = 1;
    public int ContextParallelSize { get; init; } = 1;
    public bool SequenceParallel { get; init; }
    public bool HetereogenousDistCheckpoint { get; init; }
    public string ParamsDtype { get; init; } = "float32";
    public bool Bf16 { get; init; }

    /// <summary>Hidden size after the spatial merge (the merger's input width, m² · hidden).</summary>
    [JsonIgnore] public int MergedHiddenSize => SpatialMergeSize * SpatialMergeSize * HiddenSize;
    /// <summary>Flattened patch length C · T · P · P (the patch-embedding input width).</summary>
    [JsonIgnore] public int PatchInputSize => InChannels * TemporalPatchSize * PatchSize * PatchSize;
}
