namespace MegatronBridge.Conversion.DistKeys;

/// <summary>
/// The one choice about torch_dist key names that is not a property of the model's modules (docs/formats.md, Keys
/// and chunks); everything else comes from each parameter's <see cref="DistLayout"/>.
/// </summary>
internal sealed record DistKeyOptions
{
    /// <summary>
    /// The key name of the MTP inner layer: <c>transformer_layer</c>, which current megatron-core writes and reads
    /// (<see cref="MtpLayerNames"/>), or <c>mtp_model_layer</c>, its in-memory name, which some versions wrote.
    /// </summary>
    public string MtpLayerName { get; init; } = MtpLayerNames.TransformerLayer;

    /// <summary>The options for <paramref name="mtpLayerName"/>; null for what current megatron-core reads (<c>transformer_layer</c>).</summary>
    public static DistKeyOptions ForMtpLayerName(string? mtpLayerName) => new() { MtpLayerName = mtpLayerName ?? MtpLayerNames.TransformerLayer };
}
