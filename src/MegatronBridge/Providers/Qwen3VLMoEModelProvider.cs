using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>Qwen3-VL MoE vision-language provider (no shared experts; defaults as Megatron-Bridge's
/// <c>Qwen3VLMoEModelProvider</c> declares them).</summary>
internal sealed record Qwen3VLMoEModelProvider : Qwen3VLModelProvider
{
    public Qwen3VLMoEModelProvider()
    {
        HeadDim = 128;
        MoeRouterPreSoftmax = false;
        MoeRouterDtype = "fp32";
        MoeRouterScoreFunction = "softmax";
        MoePermuteFusion = true;
        MoeTokenDispatcherType = "alltoall";
        FreezeLanguageModel = true;
        FreezeVisionModel = true;
        MaskedSoftmaxFusion = false;
    }

    [JsonIgnore] public override string ProviderName => "Qwen3VLMoEModelProvider";

    public string PretrainedModelName { get; init; } = "Qwen/Qwen3-VL-30B-A3B-Instruct";
    public double MoeRouterBiasUpdateRate { get; init; } = 0.001;
    /// <summary>Stored from the HF config but not honoured by provide(): the layer spec <c>provide()</c> uses makes
    /// every layer MoE.</summary>
    public IReadOnlyList<int> MlpOnlyLayers { get; init; } = Array.Empty<int>();
    public int DecoderSparseStep { get; init; } = 1;
    public bool PersistLayerNorm { get; init; } = true;
    public bool BiasDropoutFusion { get; init; } = true;
    public bool DistributeSavedActivations { get; init; }
    public string CpCommType { get; init; } = "p2p";
}
