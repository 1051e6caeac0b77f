using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.IO;

namespace MegatronBridge.Models;

/// <summary>
/// The language-model-only model that a vision-language bridge's language model is on its own, as Megatron-Bridge's
/// text-only recipes see it: the LM-only architecture, how a VL checkpoint's HF tensor names become LM-only names
/// (the language model's prefix replaced, the vision tower dropped, everything else such as <c>lm_head.weight</c> and
/// <c>mtp.*</c> kept), and the LM-only config.json (the VL config's <c>text_config</c> with the LM-only architecture).
/// </summary>
/// <param name="Architecture">The LM-only bridge's HF <c>architectures</c> entry, e.g. "Qwen3_5ForCausalLM".</param>
/// <param name="VlHfLanguagePrefix">Where the language model lives in the VL checkpoint's HF names.</param>
/// <param name="HfLanguagePrefix">Where it lives in the LM-only checkpoint's HF names.</param>
/// <param name="DroppedHfPrefixes">HF names of the VL checkpoint that the LM-only model has no counterpart of.</param>
internal sealed record LanguageModelOnlyCounterpart(
    string Architecture, string VlHfLanguagePrefix, string HfLanguagePrefix, IReadOnlyList<string> DroppedHfPrefixes)
{
    /// <summary>
    /// The counterpart under this project's standard prefixes (<see cref="ModelPrefixes"/>): <c>model.language_model.X</c>
    /// becomes <c>model.X</c> and the vision encoder (<c>model.visual.*</c>) is dropped.
    /// </summary>
    public static LanguageModelOnlyCounterpart OfVisionLanguage(string architecture) =>
        new(architecture, ModelPrefixes.VlHfLanguage, ModelPrefixes.LmHfLanguage, new[] { ModelPrefixes.HfVision });

    /// <summary>The LM-only name of a VL checkpoint tensor, or null for a tensor the LM-only model leaves out.</summary>
    public string? HfName(string vlName)
    {
        foreach (var dropped in DroppedHfPrefixes)
        {
            if (vlName.StartsWith(dropped, StringComparison.Ordinal)) return null;
        }
        return vlName.StartsWith(VlHfLanguagePrefix, StringComparison.Ordinal) ? HfLanguagePrefix + vlName[VlHfLanguagePrefix.Length..] : vlName;
    }

    /// <summary>
    /// The LM-only config.json of a VL config: its <c>text_config</c> with <c>architectures</c> replaced (written
    /// first), and the VL config's dtype when text_config declares none. Top-level fields are otherwise not consulted.
    /// </summary>
    public JsonObject Config(HfConfig vlConfig)
    {
        if (!vlConfig.HasTextConfig) throw new InvalidInputException($"{vlConfig.Where}: a vision-language config needs a 'text_config' object");
        var text = vlConfig.Text.Json;
        var ordered = new JsonObject { ["architectures"] = new JsonArray(JsonValue.Create(Architecture)) };
        foreach (var (key, value) in text)
        {
            if (key != "architectures") ordered[key] = value?.DeepClone();
        }
        if (!text.ContainsKey("dtype") && !text.ContainsKey("torch_dtype") && vlConfig.DType is { } dtype) ordered["dtype"] = dtype;
        return ordered;
    }
}
