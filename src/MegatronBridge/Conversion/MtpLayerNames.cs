namespace MegatronBridge.Conversion;

/// <summary>
/// The two names megatron-core has given the inner transformer layer of a GPT-style MTP layer. The module attribute
/// (and so a legacy <c>torch</c> checkpoint's <c>state_dict()</c> key) is <c>mtp_model_layer</c> in current
/// megatron-core; <c>MultiTokenPredictionLayer.sharded_state_dict</c> renames it back to the older
/// <c>transformer_layer</c> for torch_dist keys, which is what it reads there. Checkpoints written before the rename
/// (legacy files with <c>transformer_layer</c>) or while the torch_dist remap was missing (torch_dist keys with
/// <c>mtp_model_layer</c>) exist too, so both names are read everywhere; the mappings use <c>mtp_model_layer</c>.
/// </summary>
internal static class MtpLayerNames
{
    public const string ModelLayer = "mtp_model_layer";
    public const string TransformerLayer = "transformer_layer";

    /// <summary>What current megatron-core reads: <c>mtp_model_layer</c> in legacy files, <c>transformer_layer</c> in torch_dist keys.</summary>
    public static string DefaultFor(bool legacyFormat) => legacyFormat ? ModelLayer : TransformerLayer;

    public static bool IsValid(string name) => name is ModelLayer or TransformerLayer;

    /// <summary>Renames the MTP inner layer of <paramref name="name"/> (if it is an MTP name) to <paramref name="to"/>.</summary>
    public static string Rename(string name, string to)
    {
        if (!name.Contains("mtp.layers.", StringComparison.Ordinal)) return name;
        string from = to == ModelLayer ? TransformerLayer : ModelLayer;
        return name.Replace("." + from + ".", "." + to + ".", StringComparison.Ordinal);
    }

    /// <summary>The inner-layer name an MTP parameter name uses, or null for other names.</summary>
    public static string? UsedBy(string name)
    {
        if (!name.Contains("mtp.layers.", StringComparison.Ordinal)) return null;
        if (name.Contains("." + ModelLayer + ".", StringComparison.Ordinal)) return ModelLayer;
        if (name.Contains("." + TransformerLayer + ".", StringComparison.Ordinal)) return TransformerLayer;
        return null;
    }
}
