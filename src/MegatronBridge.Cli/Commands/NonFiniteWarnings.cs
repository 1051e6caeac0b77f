using MegatronBridge.Jobs;

namespace MegatronBridge.Cli.Commands;

/// <summary>Warns on stderr about NaN / Inf weights an import found in the HF checkpoint; they are converted as they are.</summary>
internal static class NonFiniteWarnings
{
    private const int MaxListed = 20;

    public static void Write(TextWriter error, string command, IReadOnlyList<NonFiniteTensor> found)
    {
        foreach (var tensor in found.Take(MaxListed))
            error.WriteLine($"{command}: warning: {tensor.File}: tensor {tensor.Count}; converted unchanged");
        if (found.Count > MaxListed)
            error.WriteLine($"{command}: warning: {found.Count - MaxListed} more tensors hold NaN or Inf values");
    }

    public static void WriteScales(TextWriter error, string command, IReadOnlyList<OutOfRangeScale> found)
    {
        foreach (var scale in found.Take(MaxListed))
            error.WriteLine($"{command}: warning: {scale.File}: FP8 scale tensor {scale.Tensor}: {scale.Count} scale(s) NaN, infinite, zero or negative; dequantised unchanged");
        if (found.Count > MaxListed)
            error.WriteLine($"{command}: warning: {found.Count - MaxListed} more FP8 scale tensors hold out-of-range scales");
    }
}
