using MegatronBridge.Providers;

namespace MegatronBridge.Conversion;

/// <summary>
/// A bridge's module tree: every Megatron parameter <paramref name="provider"/> builds, in module order, with global
/// (TP=1, all layers, all experts) shapes and torch_dist layouts. <paramref name="languagePrefix"/> is where the
/// language model sits ("language_model." in a VL model, "" in an LM-only one).
/// </summary>
internal delegate IReadOnlyList<MegatronParam> ModelTreeFunction(GptModelProvider provider, string languagePrefix);
