using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>Qwen3.5 MoE / Qwen3.6 MoE vision-language provider; class defaults = Qwen3.5-397B-A17B geometry, as
/// Megatron-Bridge declares them.</summary>
internal sealed record Qwen35VLMoEModelProvider : Qwen35VLModelProvider
{
    public Qwen35VLMoEModelProvider()
    {
        LinearNumValueHeads = 64;
        NumMoeExperts = 512;
        MoeRouterTopk = 10;
        MoeSharedExpertGate = true;
        MoeRouterDtype = "fp32";
        MoeRouterLoadBalancingType = "global_aux_loss";
        MoeRouterPreSoftmax = false;
        MoeGroupedGemm = true;
        MoeTokenDispatcherType = "alltoall";
        MoePermuteFusion = true;
        MoeAuxLossCoeff = 1e-3;
        NumQueryGroups = 2;
        EosTokenId = 248046;
    }

    [JsonIgnore] public override string ProviderName => "Qwen35VLMoEModelProvider";

    /// <summary>A plain attribute in Python (not a dataclass field).</summary>
    public int? AudioTokenId { get; init; } = 248076;
    public string VisionCudaGraphImpl { get; init; } = "none";
    public IReadOnlyList<string> VisionCudaGraphScope { get; init; } = Array.Empty<string>();
    public int? MaxVisionCudaGraphSeqLength { get; init; }
}
