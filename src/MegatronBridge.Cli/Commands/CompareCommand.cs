using System.CommandLine;
using System.Globalization;
using MegatronBridge.Config;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using Spectre.Console;

namespace MegatronBridge.Cli.Commands;

/// <summary>What <c>compare</c> runs.</summary>
/// <param name="HfModel">Hugging Face folder (config.json, weights).</param>
internal sealed record CompareOptions(string HfModel)
{
    /// <summary>A Megatron checkpoint of the same model (torch_dist); its forward is compared too.</summary>
    public string? MegatronPath { get; init; }
    /// <summary>Reference outputs; default &lt;hf-model&gt;/reference_outputs.safetensors.</summary>
    public string? ReferencePath { get; init; }
    /// <summary>Largest max-abs difference from the reference file that passes.</summary>
    public double Tolerance { get; init; } = 1e-3;
    /// <summary>Largest max-abs difference between the HF-layout and the Megatron-layout forward that passes.</summary>
    public double LayoutTolerance { get; init; } = 1e-5;
    /// <summary>Prompt ids for HF vs Megatron instead of a reference file.</summary>
    public string? InputIds { get; init; }
    /// <summary>Prompt text for HF vs Megatron instead of a reference file (needs tokenizer.json).</summary>
    public string? Prompt { get; init; }
    /// <summary>Images for the prompt (need preprocessor_config.json).</summary>
    public IReadOnlyList<string> Images { get; init; } = Array.Empty<string>();
    /// <summary>Folder with tokenizer.json / preprocessor_config.json when the HF folder lacks them.</summary>
    public string? Processor { get; init; }
}

/// <summary>
/// <c>compare</c>: runs the CPU reference forward of a checkpoint on the inputs of a reference file and reports how
/// far its logits, image features and greedy tokens are from what transformers computed; with
/// <c>--megatron-path</c> also the forward over the Megatron checkpoint's fused parameters, run side by side with the
/// HF one a sub-block at a time (hidden states compared after each, the first divergence named), and HF vs Megatron.
/// Weights are read from disk as the forwards reach them, so memory does not grow with the model.
/// </summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var hfModel = new Option<string>("--hf-model") { Description = "Hugging Face checkpoint folder (config.json + safetensors).", Required = true };
        var megatronPath = new Option<string?>("--megatron-path") { Description = "Megatron checkpoint (torch_dist) of the same model: also run the forward over its fused parameters." };
        var reference = new Option<string?>("--reference") { Description = "Reference outputs (safetensors); default: <hf-model>/reference_outputs.safetensors." };
        var tolerance = new Option<double>("--tolerance") { Description = "Largest max-abs logit / feature difference from the reference that passes.", DefaultValueFactory = _ => 1e-3 };
        var layoutTolerance = new Option<double>("--layout-tolerance") { Description = "Largest max-abs logit difference between the HF and the Megatron forward that passes.", DefaultValueFactory = _ => 1e-5 };
        var streamLayers = StreamLayersOption.Create();
        var inputIds = new Option<string?>("--input-ids") { Description = "Instead of a reference file: prompt ids (comma separated) on which HF and Megatron are compared." };
        var prompt = new Option<string?>("--prompt") { Description = "Instead of a reference file: prompt text on which HF and Megatron are compared (needs tokenizer.json)." };
        var image = new Option<string[]>("--image") { Description = "Image file (PNG/JPEG) for --prompt / --input-ids; repeat for several (needs preprocessor_config.json).", AllowMultipleArgumentsPerToken = true };
        var processor = new Option<string?>("--processor") { Description = "Folder with tokenizer.json / preprocessor_config.json when --hf-model lacks them." };
        var command = new Command("compare", "Run the reference forward (HF and/or Megatron layout) and compare logits, image features and greedy tokens.")
        {
            hfModel, megatronPath, reference, tolerance, layoutTolerance, streamLayers, inputIds, prompt, image, processor,
        };
        command.SetAction(parse => Run(new CompareOptions(parse.GetValue(hfModel)!)
        {
            MegatronPath = parse.GetValue(megatronPath),
            ReferencePath = parse.GetValue(reference),
            Tolerance = parse.GetValue(tolerance),
            LayoutTolerance = parse.GetValue(layoutTolerance),
            InputIds = parse.GetValue(inputIds),
            Prompt = parse.GetValue(prompt),
            Images = parse.GetValue(image) ?? Array.Empty<string>(),
            Processor = parse.GetValue(processor),
        }, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    private const int GreedyTokensWithoutReference = 8;
    /// <summary>Bad input; 1 is taken by "outside tolerance".</summary>
    public const int InputErrorExitCode = 2;

    /// <summary>Exit code: 0 all within tolerance with identical greedy tokens, 1 otherwise, 2 bad input, 70 internal error.</summary>
    public static int Run(string hfModel, string? referencePath, double tolerance) =>
        Run(new CompareOptions(hfModel) { ReferencePath = referencePath, Tolerance = tolerance }, Console.Out, Console.Error);

    /// <summary>Exit code: 0 all within tolerance with identical greedy tokens, 1 otherwise, 2 bad input, 70 internal error.</summary>
    public static int Run(CompareOptions options, TextWriter output, TextWriter error) =>
        CommandErrors.Run("compare", error, () => Compare(options, output), InputErrorExitCode);

    private static int Compare(CompareOptions options, TextWriter output)
    {
        if (!(options.Tolerance >= 0)) throw new InvalidInputException($"--tolerance must be a non-negative number, got {options.Tolerance}");
        if (!(options.LayoutTolerance >= 0)) throw new InvalidInputException($"--layout-tolerance must be a non-negative number, got {options.LayoutTolerance}");
        string referencePath = options.ReferencePath ?? Path.Combine(options.HfModel, ReferenceOutputs.FileName);
        bool givenInputs = options.Prompt is not null || options.InputIds is not null;
        if (options.Images.Count > 0 && !givenInputs) throw new InvalidInputException("--image goes with --prompt or --input-ids");
        IReadOnlyList<ReferenceCase> cases;
        bool haveReference = false;
        if (givenInputs)
        {
            // Inputs only: HF and Megatron are compared with each other.
            if (options.ReferencePath is not null) throw new InvalidInputException("give --reference or --prompt / --input-ids, not both");
            if (options.MegatronPath is null) throw new InvalidInputException("--prompt / --input-ids compare HF with Megatron: give --megatron-path too");
            var assetFolders = new[] { options.Processor, options.HfModel }.OfType<string>().ToList();
            var (ids, image, _) = PromptInputs.Prepare(
                new PromptInputs.Request(options.Prompt, options.InputIds, options.Images, null, Array.Empty<string>(), assetFolders), HfConfig.LoadFromFolder(options.HfModel));
            cases = new[] { new ReferenceCase(options.Prompt is null ? "input" : "prompt", ids, Array.Empty<float>(), new int[GreedyTokensWithoutReference], image, null) };
        }
        else if (File.Exists(referencePath))
        {
            cases = ReferenceOutputs.Load(referencePath);
            haveReference = true;
        }
        else
        {
            throw new FileNotFoundException($"{referencePath}: reference outputs not found (give --reference, or --megatron-path with --prompt or --input-ids)", referencePath);
        }

        var rows = new List<ComparisonRow>();
        var layerwise = new List<(string Case, SideBySide Result)>();
        using var hf = ReferenceModel.LoadHf(options.HfModel);
        RequireVisionForImageCases(hf, cases, referencePath);
        if (options.MegatronPath is null)
        {
            rows.AddRange(cases.Select(c => new ComparisonRow("HF vs reference", CaseComparison.Run(hf, c), options.Tolerance)));
            return Report(rows, layerwise, options.LayoutTolerance, output, gdnModel: false);
        }

        using var megatron = MegatronReferenceModel.Load(options.MegatronPath, options.HfModel);
        var hfResults = new List<CaseComparison>();
        var megatronResults = new List<CaseComparison>();
        foreach (var c in cases)
        {
            // Both forwards in lockstep: only the layer each is running is read, and the first sub-block where the
            // hidden states part is named.
            var side = SideBySide.Run(hf, megatron, c.InputIds, c.Image);
            layerwise.Add((c.Name, side));
            hfResults.Add(CaseComparison.FromOutputs(hf, c, side.LogitsA, side.ImageEmbedsA));
            megatronResults.Add(CaseComparison.FromOutputs(megatron, c, side.LogitsB, side.ImageEmbedsB));
        }
        if (haveReference)
        {
            rows.AddRange(hfResults.Select(r => new ComparisonRow("HF vs reference", r, options.Tolerance)));
            rows.AddRange(megatronResults.Select(r => new ComparisonRow("Megatron vs reference", r, options.Tolerance)));
        }
        rows.AddRange(hfResults.Zip(megatronResults, (a, b) => new ComparisonRow("HF vs Megatron", CaseComparison.Between(a, b), options.LayoutTolerance)));
        return Report(rows, layerwise, options.LayoutTolerance, output, megatron.Config.LinearAttentionLayers.Any(l => l));
    }

    /// <summary>Refused here, as bad input, rather than deep in the forward pass.</summary>
    private static void RequireVisionForImageCases(ReferenceModel model, IReadOnlyList<ReferenceCase> cases, string referencePath)
    {
        if (model.Config.Vision is not null) return;
        if (cases.FirstOrDefault(c => c.Image is not null) is { } imageCase)
            throw new InvalidInputException($"{referencePath}: case '{imageCase.Name}' has an image, but {model.Config.Where} has no vision encoder");
    }

    private sealed record ComparisonRow(string What, CaseComparison Result, double Tolerance)
    {
        public bool Passes => Result.Passes(Tolerance);
    }

    private static int Report(IReadOnlyList<ComparisonRow> rows, IReadOnlyList<(string Case, SideBySide Result)> layerwise, double layoutTolerance, TextWriter output, bool gdnModel)
    {
        bool terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        // Logs and pipes have no width; keep each row on one line there.
        if (!terminal) console.Profile.Width = Math.Max(console.Profile.Width, 160);
        var table = new Table().AddColumns("case", "comparison", "logits max |Δ|", "logits mean |Δ|", "image features max |Δ|", "greedy tokens", "tolerance");
        foreach (var row in rows)
        {
            var r = row.Result;
            string Cell(double value)
            {
                string text = value.ToString("E3", CultureInfo.InvariantCulture);
                return value <= row.Tolerance ? $"[green]{text}[/]" : $"[red]{text}[/]";
            }
            table.AddRow(
                Markup.Escape(r.Name),
                Markup.Escape(row.What),
                Cell(r.Logits.MaxAbs),
                Markup.Escape(r.Logits.MeanAbs.ToString("E3", CultureInfo.InvariantCulture)),
                r.ImageEmbeds is { } e ? Cell(e.MaxAbs) : "-",
                r.GreedyMatches ? $"[green]match ({r.ExpectedGreedy.Length})[/]"
                    : $"[red]differ[/]: {Markup.Escape(string.Join(",", r.ActualGreedy))} vs {Markup.Escape(string.Join(",", r.ExpectedGreedy))}",
                row.Tolerance.ToString("G3", CultureInfo.InvariantCulture));
        }
        console.Write(table);
        // Plain lines (no table, no wrapping): one per case, the first sub-block where the forwards part.
        foreach (var (name, side) in layerwise)
        {
            string Describe(StepDifference step) =>
                $"{step.Where} (max |Δ| {step.Difference.MaxAbs.ToString("E3", CultureInfo.InvariantCulture)}, mean |Δ| {step.Difference.MeanAbs.ToString("E3", CultureInfo.InvariantCulture)})";
            string tolerance = layoutTolerance.ToString("G3", CultureInfo.InvariantCulture);
            string line = side.FirstDivergence(layoutTolerance) is { } first
                ? $"first divergence past {tolerance}: {Describe(first)}"
                : $"hidden states agree after all {side.Steps.Count} sub-blocks within {tolerance}; largest: {Describe(side.Largest)}";
            output.WriteLine($"HF vs Megatron, case {name}, layer by layer: {line}");
        }
        bool pass = rows.All(r => r.Passes);
        console.MarkupLine(pass ? "[green]PASS[/]" : "[red]FAIL[/]");
        if (!pass && gdnModel && rows.Any(r => r.What == "HF vs Megatron" && !r.Passes))
            console.MarkupLine("note: the Megatron checkpoint stores the GDN output norm as bf16(w - 1), which loses precision for norm weights far from 1.");
        return pass ? 0 : 1;
    }
}
