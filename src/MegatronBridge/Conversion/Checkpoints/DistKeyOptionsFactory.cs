using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Providers;

namespace MegatronBridge.Conversion.Checkpoints;

/// <summary>The facts of a provider that decide megatron-core's torch_dist key layout.</summary>
public static class DistKeyOptionsFactory
{
    public static DistKeyOptions From(GptModelProvider provider) => new(
        LanguagePerLayer: provider.HetereogenousDistCheckpoint,
        NumLayers: provider.NumLayers,
        VisionDepth: provider.Vision?.NumLayers ?? 0,
        DeepstackMergers: provider.Vision?.DeepstackVisualIndexes.Count ?? 0,
        NumExperts: provider.NumExperts,
        GdnQkDim: provider.LinearQueryKeyDim,
        GdnVDim: provider.LinearValueDim,
        GdnValueHeads: provider.LinearNumValueHeads);
}
