using MegatronBridge.Config;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>The tensors of a Hugging Face folder as conversions read them: blockwise FP8 weights dequantised.</summary>
internal static class HfWeights
{
    /// <summary>
    /// <paramref name="checkpoint"/> itself when it holds no FP8 tensor; otherwise a <see cref="BlockScaledFp8Source"/>
    /// over it with the block size of config.json's <c>quantization_config</c> (128 x 128 when it names none), reading
    /// the weights as <paramref name="dtype"/> (bf16 when null, the dtype of Qwen's releases).
    /// </summary>
    public static ITensorSource Dequantized(ITensorSource checkpoint, string folder, DType? dtype = null)
    {
        if (!checkpoint.Tensors.Any(t => t.DType == DType.F8E4M3)) return checkpoint;
        var configPath = Path.Combine(folder, "config.json");
        var quantization = File.Exists(configPath) ? Fp8QuantizationConfig.From(HfConfig.Load(configPath)) : null;
        return new BlockScaledFp8Source(checkpoint,
            quantization?.BlockRows ?? Fp8QuantizationConfig.DefaultBlock, quantization?.BlockCols ?? Fp8QuantizationConfig.DefaultBlock,
            dtype ?? DType.BF16);
    }
}
