namespace MegatronBridge.Models;

/// <summary>
/// Where each part of a model lives in its parameter names, defined once for every bridge. A vision-language
/// checkpoint nests the language model one level down on both sides (Megatron <c>language_model.</c>, HF
/// <c>model.language_model.</c>) and puts the vision encoder beside it (<c>vision_model.</c> / <c>model.visual.</c>);
/// a language-model-only checkpoint has no Megatron prefix and HF <c>model.</c>. The HF MTP weights are top-level
/// <c>mtp.</c> in both, and the HF output head is <c>lm_head.weight</c>. These follow the prefixes of
/// Megatron-Bridge's Qwen3.5 and Qwen3-VL bridges.
/// </summary>
internal static class ModelPrefixes
{
    /// <summary>Megatron language model of a VL model.</summary>
    public const string VlMegatronLanguage = "language_model.";
    /// <summary>HF language model of a VL checkpoint.</summary>
    public const string VlHfLanguage = "model.language_model.";
    /// <summary>Megatron language model of an LM-only model (the GPT model is the root).</summary>
    public const string LmMegatronLanguage = "";
    /// <summary>HF language model of an LM-only checkpoint.</summary>
    public const string LmHfLanguage = "model.";
    /// <summary>Megatron vision encoder.</summary>
    public const string MegatronVision = "vision_model.";
    /// <summary>HF vision encoder.</summary>
    public const string HfVision = "model.visual.";

    /// <summary>The Megatron language-model prefix of a VL (true) or LM-only (false) model.</summary>
    public static string MegatronLanguage(bool visionLanguage) => visionLanguage ? VlMegatronLanguage : LmMegatronLanguage;

    /// <summary>The HF language-model prefix of a VL (true) or LM-only (false) checkpoint.</summary>
    public static string HfLanguage(bool visionLanguage) => visionLanguage ? VlHfLanguage : LmHfLanguage;
}
