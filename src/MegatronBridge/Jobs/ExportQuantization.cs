using MegatronBridge.Conversion;

namespace MegatronBridge.Jobs;

/// <summary>What <c>export</c> does with the weights: write them as the checkpoint holds them, or quantized.</summary>
public enum ExportQuantization
{
    None,
    /// <summary>Blockwise FP8 (E4M3 weights, one scale per 128 x 128 block) in the layout of Qwen's "-FP8" releases.</summary>
    Fp8,
}
