using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>Qwen3-VL MoE vision-language provider (no shared experts; defaults as Megatron-Bridge's
/// <c>Qwen3VLMoEModelProvider</c> declares them).</summary>
public sealed record Qwen3VLMoEModelProvider : Qwen3VLModelProvider
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

    [JsonPropertyName("pretrained_model_name")] public string PretrainedModelName { get; init; } = "Qwen/Qwen3-VL-30B-A3B-Instruct";
    [JsonPropertyName("moe_router_bias_update_rate")] public double MoeRouterBiasUpdateRate { get; init; } = 0.001;
    /// <summary>Stored from the HF config but not honoured by provide(): the layer spec <c>provide()</c> uses makes
    /// every layer MoE.</summary>
    [JsonPropertyName("mlp_only_layers")] public IReadOnlyList<int> MlpOnlyLayers { get; init; } = Array.Empty<int>();
    [JsonPropertyName("decoder_sparse_step")] public int DecoderSparseStep { get; init; } = 1;
    [JsonPropertyName("persist_layer_norm")] public bool PersistLayerNorm { get; init; } = true;
    [JsonPropertyName("bias_dropout_fusion")] public bool BiasDropoutFusion { get; init; } = true;
    [JsonPropertyName("distribute_saved_activations")] public bool DistributeSavedActivations { get; init; }
    [JsonPropertyName("cp_comm_type")] public string CpCommType { get; init; } = "p2p";
}
