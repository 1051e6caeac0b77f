using MegatronBridge.Config;
using MegatronBridge.Conversion;
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

/// <summary>
/// A blockwise FP8 release: <see cref="Weights"/> E4M3 weights of <see cref="Fp8Bytes"/> with
/// <see cref="ScaleBytes"/> of scales, read by conversions as <see cref="DequantizedDType"/> (<see cref="DequantizedBytes"/>).
/// </summary>
public sealed record Fp8Inspection(int BlockRows, int BlockCols, int Weights, long Fp8Bytes, IReadOnlyList<DType> ScaleDTypes, long ScaleBytes,
    DType DequantizedDType, long DequantizedBytes);

/// <summary>What <c>megatron-bridge inspect</c> reports about an HF checkpoint folder.</summary>
public sealed record ModelInspection(
    string Folder,
    string Architecture,
    string BridgeName,
    string ModelType,
    bool IsVisionLanguage,
    GptModelProvider Provider,
    ParameterCounts Parameters,
    IReadOnlyList<DTypeInventory> Inventory,
    int TensorCount,
    bool HasMtpTensors)
{
    /// <summary>False for a folder with config.json and no weights: the provider and layout only, no counts.</summary>
    public bool HasWeights { get; init; } = true;

    /// <summary>How the checkpoint's blockwise FP8 weights are stored and what dequantising them produces; null when it has none.</summary>
    public Fp8Inspection? Fp8 { get; init; }

    /// <summary>
    /// Reads config.json and the safetensors headers of <paramref name="folder"/> (no tensor data). A folder with
    /// neither model.safetensors nor an index is inspected from its config alone. An FP8 release's
    /// parameters are counted as the dequantised weights (scales are not parameters); its inventory lists the tensors
    /// as stored.
    /// </summary>
    public static ModelInspection Inspect(string folder)
    {
        var config = HfConfig.LoadFromFolder(folder);
        var (bridge, provider) = BridgeRegistry.CreateProvider(config);
        if (!SafetensorsCheckpoint.HasWeights(folder))
            return FromTensors(folder, bridge, provider, Array.Empty<TensorMeta>()) with { HasWeights = false };
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        if (HfWeights.Dequantized(checkpoint, folder) is not BlockScaledFp8Source fp8)
            return FromTensors(folder, bridge, provider, checkpoint.Tensors);
        var stored = FromTensors(folder, bridge, provider, checkpoint.Tensors);
        var weights = fp8.QuantizedTensors.Select(n => fp8.StoredAs(n)!.Value).ToList();
        return FromTensors(folder, bridge, provider, fp8.Tensors) with
        {
            Inventory = stored.Inventory,
            TensorCount = stored.TensorCount,
            Fp8 = new Fp8Inspection(fp8.BlockRows, fp8.BlockCols, weights.Count, weights.Sum(w => w.Weight.ByteLength),
                weights.Select(w => w.Scale.DType).Distinct().ToList(), weights.Sum(w => w.Scale.ByteLength),
                fp8.OutputDType, weights.Sum(w => w.Weight.NumElements * fp8.OutputDType.Size())),
        };
    }

    internal static ModelInspection FromTensors(string folder, BridgeRegistration bridge, GptModelProvider provider, IReadOnlyList<TensorMeta> tensors)
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
        return new ModelInspection(folder, architecture, bridge.BridgeName, bridge.ModelType, bridge.IsVisionLanguage, provider,
            new ParameterCounts(total, languageModel, vision, mtp, routed, languageModel - inactive),
            inventory, tensors.Count, tensors.Any(t => t.Name.StartsWith("mtp.", StringComparison.Ordinal)));
    }

    private static bool IsVision(string name) =>
        name.StartsWith("model.visual.", StringComparison.Ordinal) || name.StartsWith("visual.", StringComparison.Ordinal);
}
