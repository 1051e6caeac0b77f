namespace MegatronBridge.Models;

/// <summary>
/// What the CPU reference forward must know of a bridge's model beyond the sizes in config.json: the decoder
/// variant the architecture is. A bridge registration carries it, so the reference chooses its math from the
/// config's <c>architectures</c>, as the conversions do, never from <c>model_type</c>.
/// </summary>
internal sealed record ReferenceTraits
{
    /// <summary>RMSNorm weights are offsets from one: the norm scales by (1 + w) instead of w.</summary>
    public required bool ZeroCenteredNorms { get; init; }
    /// <summary>The attention's query projection also yields a per-head sigmoid gate on the attention output.</summary>
    public required bool AttentionOutputGate { get; init; }
    /// <summary>
    /// Decoder layers are Gated DeltaNet or softmax attention as <c>layer_types</c> says (derived from
    /// <c>full_attention_interval</c> when absent); otherwise every layer is softmax attention.
    /// </summary>
    public required bool HybridLinearAttention { get; init; }
    /// <summary>The rotary <c>mrope_section</c> (T, H, W frequencies) transformers uses when rope_parameters has none.</summary>
    public required IReadOnlyList<int> DefaultMropeSection { get; init; }
    /// <summary>
    /// The vision encoder's position-embedding interpolation follows vision_config's <c>interpolation_mode</c> /
    /// <c>interpolation_align_corners</c>; otherwise it is fixed to bilinear with aligned corners.
    /// </summary>
    public required bool VisionInterpolationFromConfig { get; init; }
    /// <summary>
    /// Packed routed experts whose shapes read both ways (hidden size = 2 x expert intermediate size) are stored
    /// transposed (<c>gate_up_proj</c> [E, H, 2I]), as the hub's checkpoints of this family are.
    /// </summary>
    public required bool AmbiguousPackedExpertsTransposed { get; init; }
}
