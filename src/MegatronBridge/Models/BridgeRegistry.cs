using System.Text.Json;
using MegatronBridge.Config;
using MegatronBridge.IO;
using MegatronBridge.Models.Qwen35;
using MegatronBridge.Models.Qwen3VL;
using MegatronBridge.Models.Shared;
using MegatronBridge.Providers;

namespace MegatronBridge.Models;

/// <summary>
/// Chooses a bridge by HF architecture name, as Megatron-Bridge's registry does: the first <c>architectures</c> entry
/// that is registered. <c>model_type</c> plays no part in dispatch. Adding a family is adding one registration below
/// (its provider translation, mapping table and module tree).
/// </summary>
internal static class BridgeRegistry
{
    public static IReadOnlyList<BridgeRegistration> All { get; } = new[]
    {
        new BridgeRegistration
        {
            Architecture = "Qwen3_5ForConditionalGeneration", BridgeName = "Qwen35VLBridge", ProviderName = "Qwen35VLModelProvider",
            ModelType = "qwen3_5", IsVisionLanguage = true, IsMoe = false,
            CreateProvider = Qwen35Translation.VisionLanguage, LanguageModelOnly = LanguageModelOnlyCounterpart.OfVisionLanguage("Qwen3_5ForCausalLM"),
            CreateMappingTable = _ => Qwen35Mappings.Qwen35VL(), ModelTree = Qwen35ModelTree.Build, Reference = Qwen35Reference.Traits,
            Fp8QuantizedByDefault = QwenFp8Release.Quantizes,
        },
        new BridgeRegistration
        {
            Architecture = "Qwen3_5MoeForConditionalGeneration", BridgeName = "Qwen35VLMoEBridge", ProviderName = "Qwen35VLMoEModelProvider",
            ModelType = "qwen3_5_moe", IsVisionLanguage = true, IsMoe = true,
            CreateProvider = Qwen35Translation.VisionLanguageMoe, LanguageModelOnly = LanguageModelOnlyCounterpart.OfVisionLanguage("Qwen3_5MoeForCausalLM"),
            CreateMappingTable = Qwen35Mappings.Qwen35VLMoE, ModelTree = Qwen35ModelTree.Build, Reference = Qwen35Reference.Traits,
            Fp8QuantizedByDefault = QwenFp8Release.Quantizes,
        },
        new BridgeRegistration
        {
            Architecture = "Qwen3_5ForCausalLM", BridgeName = "Qwen35Bridge", ProviderName = "GPTModelProvider",
            ModelType = "qwen3_5_text", IsVisionLanguage = false, IsMoe = false,
            CreateProvider = cfg => Qwen35Translation.LanguageModel(cfg, moe: false),
            CreateMappingTable = _ => Qwen35Mappings.Qwen35(), ModelTree = Qwen35ModelTree.Build, Reference = Qwen35Reference.Traits,
            Fp8QuantizedByDefault = QwenFp8Release.Quantizes,
        },
        new BridgeRegistration
        {
            Architecture = "Qwen3_5MoeForCausalLM", BridgeName = "Qwen35MoEBridge", ProviderName = "GPTModelProvider",
            ModelType = "qwen3_5_moe_text", IsVisionLanguage = false, IsMoe = true,
            CreateProvider = cfg => Qwen35Translation.LanguageModel(cfg, moe: true),
            CreateMappingTable = Qwen35Mappings.Qwen35MoE, ModelTree = Qwen35ModelTree.Build, Reference = Qwen35Reference.Traits,
            Fp8QuantizedByDefault = QwenFp8Release.Quantizes,
        },
        new BridgeRegistration
        {
            Architecture = "Qwen3VLForConditionalGeneration", BridgeName = "Qwen3VLBridge", ProviderName = "Qwen3VLModelProvider",
            ModelType = "qwen3_vl", IsVisionLanguage = true, IsMoe = false,
            CreateProvider = Qwen3VLTranslation.VisionLanguage,
            CreateMappingTable = _ => Qwen3VLMappings.Qwen3VL(), ModelTree = Qwen3VLModelTree.Build, Reference = Qwen3VLReference.Traits,
            Fp8QuantizedByDefault = QwenFp8Release.Quantizes,
        },
        new BridgeRegistration
        {
            Architecture = "Qwen3VLMoeForConditionalGeneration", BridgeName = "Qwen3VLMoEBridge", ProviderName = "Qwen3VLMoEModelProvider",
            ModelType = "qwen3_vl_moe", IsVisionLanguage = true, IsMoe = true,
            CreateProvider = Qwen3VLTranslation.VisionLanguageMoe,
            CreateMappingTable = Qwen3VLMappings.Qwen3VLMoE, ModelTree = Qwen3VLModelTree.Build, Reference = Qwen3VLReference.Traits,
            Fp8QuantizedByDefault = QwenFp8Release.Quantizes,
        },
    };

    public static IEnumerable<string> SupportedArchitectures => All.Select(r => r.Architecture);

    public static bool TryGet(string architecture, out BridgeRegistration registration)
    {
        registration = All.FirstOrDefault(r => r.Architecture == architecture)!;
        return registration is not null;
    }

    /// <summary>The registration for the first registered entry of the config's <c>architectures</c>.</summary>
    public static BridgeRegistration Resolve(HfConfig cfg)
    {
        if (!cfg.Has("architectures") || cfg.Architectures.Count == 0)
            throw new InvalidInputException($"{cfg.Where}: field 'architectures' is missing or empty; supported: {string.Join(", ", SupportedArchitectures)}");
        foreach (var architecture in cfg.Architectures)
        {
            if (TryGet(architecture, out var registration)) return registration;
        }
        throw new InvalidInputException(
            $"{cfg.Where}: unsupported architecture {string.Join(", ", cfg.Architectures.Select(a => $"'{a}'"))}; supported: {string.Join(", ", SupportedArchitectures)}");
    }

    /// <summary>Dispatches and translates in one step.</summary>
    public static (BridgeRegistration Bridge, GptModelProvider Provider) CreateProvider(HfConfig cfg)
    {
        var bridge = Resolve(cfg);
        return (bridge, bridge.CreateProvider(cfg));
    }

    /// <summary>The LM-only bridge and provider of a VL config when <paramref name="languageOnly"/>, else the config's own.</summary>
    public static (BridgeRegistration Bridge, GptModelProvider Provider) CreateProvider(HfConfig cfg, bool languageOnly) =>
        languageOnly ? ForLanguageModelOnly(cfg) : CreateProvider(cfg);

    /// <summary>
    /// The LM-only provider of a Qwen3.5/3.6 VL checkpoint, as Megatron-Bridge's text-only recipes build it: the
    /// LM-only bridge applied to <c>text_config</c> with its architectures replaced (config only). Top-level fields of
    /// the VL config are not consulted, except the dtype when text_config has none.
    /// </summary>
    public static (BridgeRegistration Bridge, GptModelProvider Provider) ForLanguageModelOnly(HfConfig vlConfig)
    {
        var (lm, counterpart) = LanguageModelOnly(vlConfig);
        var textConfig = HfConfig.Parse(counterpart.Config(vlConfig).ToJsonString(), vlConfig.Where + ": text_config");
        return (lm, lm.CreateProvider(textConfig));
    }

    /// <summary>The LM-only bridge of a VL config and how its names and config become LM-only ones; refused for a bridge without one.</summary>
    public static (BridgeRegistration Bridge, LanguageModelOnlyCounterpart Counterpart) LanguageModelOnly(HfConfig vlConfig)
    {
        var vl = Resolve(vlConfig);
        if (vl.LanguageModelOnly is not { } counterpart || !TryGet(counterpart.Architecture, out var lm))
            throw new InvalidInputException($"{vlConfig.Where}: {vl.BridgeName} has no language-model-only bridge (only Qwen3.5/3.6 VL checkpoints have one)");
        return (lm, counterpart);
    }

    /// <summary>True when the config is a VL model that has a language-model-only bridge.</summary>
    public static bool HasLanguageModelOnly(HfConfig config) =>
        Resolve(config) is { IsVisionLanguage: true, LanguageModelOnly: not null };
}
