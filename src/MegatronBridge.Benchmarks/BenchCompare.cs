using System.Globalization;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;

namespace MegatronBridge.Benchmarks;

/// <summary>
/// The bench's compare phase: the HF and the Megatron reference forwards side by side on a few tokens, as
/// <c>compare --megatron-path --input-ids</c> runs them, counting the stored weight bytes they read.
/// </summary>
internal static class BenchCompare
{
    public const string PhaseName = "compare HF vs Megatron (8 tokens)";
    private const int Tokens = 8;
    private const double Tolerance = 1e-5;

    /// <summary>Weight bytes read (both models) and a line on how far the hidden states part.</summary>
    public static (long BytesRead, string Summary) Run(string hfFolder, string megatronPath)
    {
        long before = WeightReader.BytesRead;
        using var hf = ReferenceModel.LoadHf(hfFolder);
        using var megatron = MegatronReferenceModel.Load(megatronPath, hfFolder);
        // Spread over the vocabulary, so that embedding rows come from all over the table.
        var ids = Enumerable.Range(0, Tokens).Select(i => (int)((i * 7919L + 13) % hf.Config.Vocab)).ToArray();
        var side = SideBySide.Run(hf, megatron, ids);
        string Describe(StepDifference s) => $"{s.Where}, max |Δ| {s.Difference.MaxAbs.ToString("E2", CultureInfo.InvariantCulture)}";
        string summary = side.FirstDivergence(Tolerance) is { } first
            ? $"first divergence past {Tolerance:G1}: {Describe(first)}; logits max |Δ| {Difference.Of(side.LogitsB, side.LogitsA).MaxAbs.ToString("E2", CultureInfo.InvariantCulture)}"
            : $"hidden states agree within {Tolerance:G1} after all {side.Steps.Count} sub-blocks";
        return (WeightReader.BytesRead - before, summary);
    }
}
