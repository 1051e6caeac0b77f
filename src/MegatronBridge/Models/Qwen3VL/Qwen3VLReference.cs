namespace MegatronBridge.Models.Qwen3VL;

/// <summary>The reference forward's view of Qwen3-VL (dense and MoE).</summary>
internal static class Qwen3VLReference
{
    /// <summary>
    /// Plain attention and plain RMSNorms with deepstack visual features, as transformers' Qwen3-VL computes them; its
    /// rotary default section and vision interpolation options are transformers' Qwen3-VL ones.
    /// </summary>
    public static ReferenceTraits Traits { get; } = new()
    {
        ZeroCenteredNorms = false,
        AttentionOutputGate = false,
        HybridLinearAttention = false,
        DefaultMropeSection = new[] { 24, 20, 20 },
        VisionInterpolationFromConfig = true,
        AmbiguousPackedExpertsTransposed = true,
    };
}
