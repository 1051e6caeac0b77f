namespace MegatronBridge.Models.Qwen35;

/// <summary>The reference forward's view of Qwen3.5 / Qwen3.6 (VL or language model only).</summary>
internal static class Qwen35Reference
{
    /// <summary>
    /// Hybrid Gated DeltaNet + gated attention with zero-centred RMSNorms, as transformers' Qwen3.5 text model
    /// computes it; its rotary default section is transformers' Qwen3.5 one.
    /// </summary>
    public static ReferenceTraits Traits { get; } = new()
    {
        ZeroCenteredNorms = true,
        AttentionOutputGate = true,
        HybridLinearAttention = true,
        DefaultMropeSection = new[] { 11, 11, 10 },
        VisionInterpolationFromConfig = false,
        AmbiguousPackedExpertsTransposed = false,
    };
}
