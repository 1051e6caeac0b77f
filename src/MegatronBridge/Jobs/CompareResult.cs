using MegatronBridge.Reference;

namespace MegatronBridge.Jobs;

/// <summary>One row of a comparison: which two forwards (or a forward and the reference file), on which case.</summary>
/// <param name="What">"HF vs reference", "Megatron vs reference" or "HF vs Megatron".</param>
internal sealed record ComparisonRow(string What, CaseComparison Result, double Tolerance)
{
    public bool Passes => Result.Passes(Tolerance);
}

/// <summary>Where the HF and the Megatron forward of one case part, sub-block by sub-block.</summary>
/// <param name="Steps">How many sub-blocks were compared.</param>
/// <param name="FirstDivergence">The first sub-block past the layout tolerance, or null when all agree.</param>
/// <param name="Largest">The sub-block with the largest max |Δ|.</param>
internal sealed record LayerwiseComparison(string Case, int Steps, StepDifference? FirstDivergence, StepDifference Largest);

/// <summary>What <see cref="ReferenceComparer.Compare"/> found.</summary>
/// <param name="Rows">Per case: HF (and Megatron) vs the reference file, then HF vs Megatron.</param>
/// <param name="Layerwise">Per case, with a Megatron checkpoint: where the two forwards part.</param>
/// <param name="LayoutTolerance">The HF vs Megatron tolerance the layer-by-layer lines were judged with.</param>
/// <param name="HasGatedDeltaNet">The compared Megatron model has Gated DeltaNet layers (whose output norm a Megatron checkpoint stores as bf16(w - 1)).</param>
internal sealed record CompareResult(IReadOnlyList<ComparisonRow> Rows, IReadOnlyList<LayerwiseComparison> Layerwise, double LayoutTolerance, bool HasGatedDeltaNet)
{
    /// <summary>Reference cases with an image left out because the Megatron checkpoint is language-only (no vision encoder).</summary>
    public int ImageCasesSkipped { get; init; }

    /// <summary>Why image cases were left out, when any were; null otherwise.</summary>
    public string? ImageCasesSkippedReason =>
        ImageCasesSkipped > 0 ? "the Megatron checkpoint is language-only (no vision encoder); the text cases were compared" : null;

    /// <summary>Every row within its tolerance, with identical greedy tokens.</summary>
    public bool Passes => Rows.All(r => r.Passes);

    /// <summary>
    /// An HF vs Megatron row failed on a model with Gated DeltaNet layers, where the stored bf16(w - 1) output norm
    /// loses precision for norm weights far from 1: worth a note beside the failure.
    /// </summary>
    public bool GatedDeltaNetNormMayExplain => !Passes && HasGatedDeltaNet && Rows.Any(r => r.What == ReferenceComparer.HfVsMegatron && !r.Passes);

    /// <summary>The note printed beside such a failure; null when <see cref="GatedDeltaNetNormMayExplain"/> is false.</summary>
    public string? Note => GatedDeltaNetNormMayExplain
        ? "the Megatron checkpoint stores the GDN output norm as bf16(w - 1), which loses precision for norm weights far from 1."
        : null;
}
