using MegatronBridge.Conversion;

namespace MegatronBridge.Jobs;

/// <summary>
/// The module names a legacy <c>torch</c> checkpoint's state dict uses where megatron-core versions and options differ:
/// the MTP inner layer (<see cref="MtpLayerNames"/>) and the routed experts, grouped GEMM (TEGroupedMLP,
/// <c>experts.linear_fc1.weight{e}</c>, <c>--moe-grouped-gemm</c>) or sequential (SequentialMLP,
/// <c>experts.local_experts.{e}.linear_fc1.weight</c>).
/// </summary>
internal sealed record LegacyKeyNames
{
    /// <summary>What current megatron-core writes with <c>--moe-grouped-gemm</c>: <c>mtp_model_layer</c>, grouped experts.</summary>
    public static LegacyKeyNames Default { get; } = new();

    public string MtpLayerName { get; init; } = MtpLayerNames.ModelLayer;

    /// <summary>SequentialMLP expert names (Megatron-LM without <c>--moe-grouped-gemm</c>).</summary>
    public bool SequentialExperts { get; init; }

    /// <summary>A rank-local in-memory name (mapping names: <c>mtp_model_layer</c>, grouped experts) as this checkpoint spells it.</summary>
    public string Apply(string localName)
    {
        var name = MtpLayerNames.Rename(localName, MtpLayerName);
        return SequentialExperts ? MegatronNaming.ToSequentialExpert(name) : name;
    }

    /// <summary>The inverse of <see cref="Apply"/> for any spelling: a stored name under the mapping's names.</summary>
    public static string Normalize(string storedName) =>
        MegatronNaming.FromSequentialExpert(MtpLayerNames.Rename(storedName, MtpLayerNames.ModelLayer));
}
