using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Conversion;
using MegatronBridge.Providers;

namespace MegatronBridge.Jobs;

/// <summary>The facts of a provider that decide megatron-core's torch_dist key layout.</summary>
internal static class DistKeyOptionsFactory
{
    /// <param name="mtpLayerName">The MTP inner-layer key name; null for what current megatron-core reads (<c>transformer_layer</c>).</param>
    public static DistKeyOptions From(GptModelProvider provider, string? mtpLayerName = null) => new(
        LanguagePerLayer: provider.HetereogenousDistCheckpoint,
        NumLayers: provider.NumLayers,
        VisionDepth: provider.Vision?.NumLayers ?? 0,
        DeepstackMergers: provider.Vision?.DeepstackVisualIndexes.Count ?? 0,
        NumExperts: provider.NumExperts,
        GdnQkDim: provider.LinearQueryKeyDim,
        GdnVDim: provider.LinearValueDim,
        GdnValueHeads: provider.LinearNumValueHeads)
    {
        MtpLayerName = mtpLayerName ?? MtpLayerNames.TransformerLayer,
    };
}
