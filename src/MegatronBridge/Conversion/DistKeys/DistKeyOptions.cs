namespace MegatronBridge.Conversion.DistKeys;

/// <summary>
/// The model facts that decide how megatron-core names and shards a parameter in a torch_dist checkpoint
/// (docs/formats.md, Keys and chunks).
/// </summary>
/// <param name="LanguagePerLayer">hetereogenous_dist_checkpoint: per-layer language-model keys (Qwen3.5/3.6) instead of a stacked layer axis (Qwen3-VL).</param>
/// <param name="NumLayers">Decoder layers (length of the stacked layer axis when stacked).</param>
/// <param name="VisionDepth">Vision blocks (length of the vision layer axis; vision blocks are always stacked).</param>
/// <param name="DeepstackMergers">Deepstack mergers (stacked on their own axis).</param>
/// <param name="NumExperts">Routed experts (length of the expert axis), 0 for dense models.</param>
/// <param name="GdnQkDim">nk * dk: rows of the GDN query and key sections.</param>
/// <param name="GdnVDim">nv * dv: rows of the GDN value and z sections.</param>
/// <param name="GdnValueHeads">nv: rows of the GDN beta and alpha sections.</param>
internal sealed record DistKeyOptions(
    bool LanguagePerLayer,
    int NumLayers,
    int VisionDepth,
    int DeepstackMergers,
    int NumExperts,
    int GdnQkDim,
    int GdnVDim,
    int GdnValueHeads)
{
    /// <summary>
    /// The key name of the MTP inner layer: <c>transformer_layer</c>, which current megatron-core writes and reads
    /// (<see cref="MtpLayerNames"/>), or <c>mtp_model_layer</c>, its in-memory name, which some versions wrote.
    /// </summary>
    public string MtpLayerName { get; init; } = MtpLayerNames.TransformerLayer;
}
