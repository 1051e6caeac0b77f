using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models;

/// <summary>Tensors of one dtype in a checkpoint.</summary>
public sealed record DTypeInventory(DType DType, int Count, long Parameters, long Bytes);

/// <summary>
/// Parameter counts from the checkpoint's tensors (headers only). Vision and MTP are counted apart from the language
/// model; <see cref="ActivePerToken"/> is the language model (no vision, no MTP) minus the routed experts a token
/// does not use: (E - topk) / E of the decoder's routed-expert parameters.
/// </summary>
public sealed record ParameterCounts(long Total, long LanguageModel, long Vision, long Mtp, long RoutedExperts, long ActivePerToken);

/// <summary>What <c>megatron-bridge inspect</c> reports about an HF checkpoint folder.</summary>
public sealed record ModelInspection(
    string Folder,
    string Architecture,
    BridgeRegistration Bridge,
    GptModelProvider Provider,
    ParameterCounts Parameters,
    IReadOnlyList<DTypeInventory> Inventory,
    int TensorCount,
    bool HasMtpTensors)
{
    /// <summary>False for a folder with config.json and no weights: the provider and layout only, no counts.</summary>
    public bool HasWeights { get; init; } = true;

    /// <summary>
    /// Reads config.json and the safetensors headers of <paramref name="folder"/> (no tensor data). A folder with
    /// neither model.safetensors nor an index is inspected from its config alone.
    /// </summary>
    public static ModelInspection Inspect(string folder)
    {
        var config = HfConfig.LoadFromFolder(folder);
        var (bridge, provider) = BridgeRegistry.CreateProvider(config);
        if (!File.Exists(Path.Combine(folder, SafetensorsCheckpoint.SingleFileName)) && !File.Exists(Path.Combine(folder, SafetensorsCheckpoint.IndexFileName)))
            return FromTensors(folder, bridge, provider, Array.Empty<TensorMeta>()) with { HasWeights = false };
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        return FromTensors(folder, bridge, provider, checkpoint.Tensors);
    }

    public static ModelInspection FromTensors(string folder, BridgeRegistration bridge, GptModelProvider provider, IReadOnlyList<TensorMeta> tensors)
    {
        long total = 0, vision = 0, mtp = 0, routed = 0;
        foreach (var t in tensors)
        {
            total += t.NumElements;
            if (IsVision(t.Name)) vision += t.NumElements;
            else if (t.Name.StartsWith("mtp.", StringComparison.Ordinal)) mtp += t.NumElements;
            else if (t.Name.Contains(".mlp.experts.", StringComparison.Ordinal)) routed += t.NumElements;
        }
        var languageModel = total - vision - mtp;
        var inactive = provider.IsMoe ? routed / provider.NumExperts * (provider.NumExperts - provider.MoeRouterTopk) : 0;
        var inventory = tensors
            .GroupBy(t => t.DType)
            .OrderBy(g => g.Key)
            .Select(g => new DTypeInventory(g.Key, g.Count(), g.Sum(t => t.NumElements), g.Sum(t => t.ByteLength)))
            .ToArray();
        var architecture = bridge.Architecture;
        return new ModelInspection(folder, architecture, bridge, provider,
            new ParameterCounts(total, languageModel, vision, mtp, routed, languageModel - inactive),
            inventory, tensors.Count, tensors.Any(t => t.Name.StartsWith("mtp.", StringComparison.Ordinal)));
    }

    private static bool IsVision(string name) =>
        name.StartsWith("model.visual.", StringComparison.Ordinal) || name.StartsWith("visual.", StringComparison.Ordinal);
}
