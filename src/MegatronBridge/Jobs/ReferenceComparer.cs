using MegatronBridge.Config;
using MegatronBridge.IO;
using MegatronBridge.Reference;

namespace MegatronBridge.Jobs;

/// <summary>
/// The <c>compare</c> job: runs the CPU reference forward of an HF checkpoint on the inputs of a reference file and
/// measures how far its logits, image features and greedy tokens are from what transformers computed; with a
/// Megatron checkpoint also the forward over its fused parameters, run side by side with the HF one a sub-block at a
/// time (hidden states compared after each, the first divergence found), and HF vs Megatron. Given prompt inputs
/// instead of a reference file, HF and Megatron are compared with each other only. Weights are read from disk as the
/// forwards reach them, so memory does not grow with the model.
/// </summary>
internal static class ReferenceComparer
{
    public const string HfVsReference = "HF vs reference";
    public const string MegatronVsReference = "Megatron vs reference";
    public const string HfVsMegatron = "HF vs Megatron";

    /// <summary>Greedy tokens compared between HF and Megatron when the inputs come without a reference file.</summary>
    private const int GreedyTokensWithoutReference = 8;

    public static CompareResult Compare(CompareRequest request)
    {
        if (!(request.Tolerance >= 0)) throw new InvalidInputException($"--tolerance must be a non-negative number, got {request.Tolerance}");
        if (!(request.LayoutTolerance >= 0)) throw new InvalidInputException($"--layout-tolerance must be a non-negative number, got {request.LayoutTolerance}");
        string referencePath = request.ReferencePath ?? Path.Combine(request.HfModel, ReferenceOutputs.FileName);
        var (cases, haveReference) = Cases(request, referencePath);

        var rows = new List<ComparisonRow>();
        var layerwise = new List<LayerwiseComparison>();
        using var hf = ReferenceModel.LoadHf(request.HfModel);
        RequireVisionForImageCases(hf, cases, referencePath);
        if (request.MegatronPath is null)
        {
            rows.AddRange(cases.Select(c => new ComparisonRow(HfVsReference, CaseComparison.Run(hf, c), request.Tolerance)));
            return new CompareResult(rows, layerwise, request.LayoutTolerance, HasGatedDeltaNet: false);
        }

        using var megatron = MegatronReferenceModel.Load(request.MegatronPath, request.HfModel);
        int imageCasesSkipped = 0;
        if (MegatronReferenceModel.IsLanguageOnly(megatron) && cases.Any(c => c.Image is not null))
        {
            // A language-only checkpoint has no vision encoder: images the user gave are refused, a reference file's
            // image cases are left out (and counted) and its text cases compared.
            if (!haveReference) throw MegatronReferenceModel.ImagesRefused(request.MegatronPath, request.HfModel);
            imageCasesSkipped = cases.Count(c => c.Image is not null);
            cases = cases.Where(c => c.Image is null).ToList();
            if (cases.Count == 0)
                throw new InvalidInputException($"{referencePath}: every case has an image, and {request.MegatronPath} is a language-only checkpoint (no vision encoder): nothing to compare");
        }
        var hfResults = new List<CaseComparison>();
        var megatronResults = new List<CaseComparison>();
        foreach (var c in cases)
        {
            // Both forwards in lockstep: only the layer each is running is read, and the first sub-block where the
            // hidden states part is named.
            var side = SideBySide.Run(hf, megatron, c.InputIds, c.Image);
            layerwise.Add(new LayerwiseComparison(c.Name, side.Steps.Count, side.FirstDivergence(request.LayoutTolerance), side.Largest));
            hfResults.Add(CaseComparison.FromOutputs(hf, c, side.LogitsA, side.ImageEmbedsA));
            megatronResults.Add(CaseComparison.FromOutputs(megatron, c, side.LogitsB, side.ImageEmbedsB));
        }
        if (haveReference)
        {
            rows.AddRange(hfResults.Select(r => new ComparisonRow(HfVsReference, r, request.Tolerance)));
            rows.AddRange(megatronResults.Select(r => new ComparisonRow(MegatronVsReference, r, request.Tolerance)));
        }
        rows.AddRange(hfResults.Zip(megatronResults, (a, b) => new ComparisonRow(HfVsMegatron, CaseComparison.Between(a, b), request.LayoutTolerance)));
        return new CompareResult(rows, layerwise, request.LayoutTolerance, megatron.Config.LinearAttentionLayers.Any(l => l))
        {
            ImageCasesSkipped = imageCasesSkipped,
        };
    }

    /// <summary>The cases to run: the reference file's, or one built from the prompt inputs (HF vs Megatron only).</summary>
    private static (IReadOnlyList<ReferenceCase> Cases, bool HaveReference) Cases(CompareRequest request, string referencePath)
    {
        bool givenInputs = request.Prompt is not null || request.InputIds is not null;
        if (request.Images.Count > 0 && !givenInputs) throw new InvalidInputException("--image goes with --prompt or --input-ids");
        if (givenInputs)
        {
            if (request.ReferencePath is not null) throw new InvalidInputException("give --reference or --prompt / --input-ids, not both");
            if (request.MegatronPath is null) throw new InvalidInputException("--prompt / --input-ids compare HF with Megatron: give --megatron-path too");
            var assetFolders = new[] { request.Processor, request.HfModel }.OfType<string>().ToList();
            var (ids, image, _) = PromptInputs.Prepare(
                new PromptInputs.Request(request.Prompt, request.InputIds, request.Images, null, Array.Empty<string>(), assetFolders), HfConfig.LoadFromFolder(request.HfModel));
            var only = new ReferenceCase(request.Prompt is null ? "input" : "prompt", ids, Array.Empty<float>(), new int[GreedyTokensWithoutReference], image, null);
            return (new[] { only }, false);
        }
        if (File.Exists(referencePath)) return (ReferenceOutputs.Load(referencePath), true);
        throw new FileNotFoundException($"{referencePath}: reference outputs not found (give --reference, or --megatron-path with --prompt or --input-ids)", referencePath);
    }

    /// <summary>Refused here, as bad input, rather than deep in the forward pass.</summary>
    private static void RequireVisionForImageCases(ReferenceModel model, IReadOnlyList<ReferenceCase> cases, string referencePath)
    {
        if (model.Config.Vision is not null) return;
        if (cases.FirstOrDefault(c => c.Image is not null) is { } imageCase)
            throw new InvalidInputException($"{referencePath}: case '{imageCase.Name}' has an image, but {model.Config.Where} has no vision encoder");
    }
}
