using MegatronBridge.Conversion;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models;

/// <summary>An MTP block that config.json declares but a conversion leaves out: why, and which HF tensors it concerns.</summary>
/// <param name="ConfigLayers">The MTP layers config.json declares (<c>mtp_num_hidden_layers</c>).</param>
/// <param name="HfTensors">The HF <c>mtp.*</c> tensors not read (import with --no-mtp), missing (import), or not written (export).</param>
public sealed record MtpOmission(int ConfigLayers, string Reason, IReadOnlyList<string> HfTensors);

/// <summary>
/// Converting with or without the MTP block. Qwen3.5/3.6 keep every MTP tensor under the top-level HF prefix
/// <c>mtp.</c>. A provider without MTP (<c>mtp_num_layers</c> None) builds no MTP parameters, so its mapping neither
/// reads nor writes them: this is how Megatron-Bridge exports a model built without MTP (AutoBridge.save_hf_weights
/// strips the <c>mtp.</c> prefix from the source keys it expects when the built model's <c>mtp_num_layers</c> is unset,
/// see its _model_omits_mtp and _mtp_source_key_prefixes).
/// </summary>
internal static class MtpSelection
{
    public const string HfPrefix = "mtp.";

    /// <summary>The HF tensors of the MTP block among <paramref name="tensors"/>.</summary>
    public static IReadOnlyList<string> HfTensors(IEnumerable<TensorMeta> tensors) =>
        tensors.Select(t => t.Name).Where(n => n.StartsWith(HfPrefix, StringComparison.Ordinal)).ToList();

    /// <summary>The provider with MTP turned off (<c>mtp_num_layers</c> None, as Megatron-Bridge's providers default).</summary>
    public static GptModelProvider WithoutMtp(GptModelProvider provider) => provider.MtpLayers == 0 ? provider : provider with { MtpNumLayers = null };

    /// <summary>The HF tensors the MTP rows of the mapping read for <paramref name="provider"/> (which still has MTP).</summary>
    public static IReadOnlyList<string> MappedHfTensors(BridgeRegistration bridge, GptModelProvider provider, IReadOnlyList<TensorMeta> hfTensors, string where) =>
        BridgeMappings.Create(bridge, provider, hfTensors, where).HfTensors.Select(t => t.Name)
            .Where(n => n.StartsWith(HfPrefix, StringComparison.Ordinal)).ToList();

    /// <summary>What Megatron needs to load a checkpoint converted without MTP.</summary>
    public const string MegatronHint = "Megatron needs --mtp-num-layers unset (or 0) for it (the provider's mtp_num_layers is None)";
}
