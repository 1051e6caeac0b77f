using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models;

/// <summary>
/// One bridge: the HF architecture it handles, the names Megatron-Bridge uses for it, and how to build its provider.
/// A record with init properties so later concerns (mapping tables) can be added as further properties.
/// </summary>
internal sealed record BridgeRegistration
{
    /// <summary>The HF <c>architectures</c> entry, e.g. "Qwen3_5ForConditionalGeneration".</summary>
    public required string Architecture { get; init; }
    /// <summary>The Python bridge class, e.g. "Qwen35VLBridge".</summary>
    public required string BridgeName { get; init; }
    /// <summary>The Python provider class, e.g. "Qwen35VLModelProvider" ("GPTModelProvider" for LM-only bridges).</summary>
    public required string ProviderName { get; init; }
    /// <summary>The <c>model_type</c> written into an exported HF config.</summary>
    public required string ModelType { get; init; }
    public required bool IsVisionLanguage { get; init; }
    public required bool IsMoe { get; init; }
    /// <summary>Translates a config.json (already dispatched to this bridge) into its provider.</summary>
    public required Func<HfConfig, GptModelProvider> CreateProvider { get; init; }
    /// <summary>
    /// For VL bridges whose language model is also a model of its own: the LM-only architecture Megatron-Bridge's
    /// text-only recipes use on the text_config, and how the VL checkpoint's names and config become LM-only ones.
    /// </summary>
    public LanguageModelOnlyCounterpart? LanguageModelOnly { get; init; }

    /// <summary>What the CPU reference forward (compare, generate) needs to know of the model beyond config.json's sizes.</summary>
    public required ReferenceTraits Reference { get; init; }

    /// <summary>
    /// The HF tensors the family's FP8 releases store as blockwise E4M3, which <c>export --quantize fp8</c> quantizes
    /// when it follows a bf16 --hf-model; null when the family has no FP8 release (then that export is refused).
    /// </summary>
    public Func<TensorMeta, bool>? Fp8QuantizedByDefault { get; init; }

    /// <summary>Builds the bridge's weight mapping table for the checkpoint's expert layouts (ignored by dense bridges).</summary>
    public Func<ExpertLayouts, MappingTable>? CreateMappingTable { get; init; }

    /// <summary>
    /// The bridge's module tree: every Megatron parameter its provider builds, in module order, each with its global
    /// shape and how a torch_dist checkpoint stores it (composed from Models/Blocks).
    /// </summary>
    public required ModelTreeFunction ModelTree { get; init; }

    /// <summary>Megatron language-model prefix: "language_model." for VL bridges, "" for LM-only ones (<see cref="ModelPrefixes"/>).</summary>
    public string MegatronLanguagePrefix => ModelPrefixes.MegatronLanguage(IsVisionLanguage);

    /// <summary>HF language-model prefix: "model.language_model." for VL bridges, "model." for LM-only ones (<see cref="ModelPrefixes"/>).</summary>
    public string HfLanguagePrefix => ModelPrefixes.HfLanguage(IsVisionLanguage);
}
