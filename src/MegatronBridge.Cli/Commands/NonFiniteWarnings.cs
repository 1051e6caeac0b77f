using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Verification;

namespace MegatronBridge.Cli.Commands;

/// <summary>Warns on stderr about NaN / Inf weights in an HF checkpoint; they are converted as they are.</summary>
internal static class NonFiniteWarnings
{
    private const int MaxListed = 20;

    public static void Write(TextWriter error, string command, string hfFolder)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(hfFolder);
        var found = NonFiniteScan.Scan(checkpoint);
        foreach (var count in found.Take(MaxListed))
            error.WriteLine($"{command}: warning: {checkpoint.FileOf(count.Tensor)}: tensor {count}; converted unchanged");
        if (found.Count > MaxListed)
            error.WriteLine($"{command}: warning: {found.Count - MaxListed} more tensors hold NaN or Inf values");
    }
}
