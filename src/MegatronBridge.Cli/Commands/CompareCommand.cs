using System.CommandLine;
using System.Globalization;
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
    public bool StreamLayers { get; init; }
    /// <summary>Prompt ids for HF vs Megatron when there is no reference file.</summary>
    public string? InputIds { get; init; }
}

/// <summary>
/// <c>compare</c>: runs the CPU reference forward of a checkpoint on the inputs of a reference file and reports how
/// far its logits, image features and greedy tokens are from what transformers computed; with
/// <c>--megatron-path</c> also the forward over the Megatron checkpoint's fused parameters, and HF vs Megatron.
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
        var streamLayers = new Option<bool>("--stream-layers") { Description = "Read each decoder layer from disk when the forward reaches it (bounded memory, slower)." };
        var inputIds = new Option<string?>("--input-ids") { Description = "Without a reference file: prompt ids (comma separated) on which HF and Megatron are compared." };
        var command = new Command("compare", "Run the reference forward (HF and/or Megatron layout) and compare logits, image features and greedy tokens.")
        {
            hfModel, megatronPath, reference, tolerance, layoutTolerance, streamLayers, inputIds,
        };
        command.SetAction(parse => Run(new CompareOptions(parse.GetValue(hfModel)!)
        {
            MegatronPath = parse.GetValue(megatronPath),
            ReferencePath = parse.GetValue(reference),
            Tolerance = parse.GetValue(tolerance),
            LayoutTolerance = parse.GetValue(layoutTolerance),
            StreamLayers = parse.GetValue(streamLayers),
            InputIds = parse.GetValue(inputIds),
        }, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    private const int GreedyTokensWithoutReference = 8;
    /// <summary>Bad input; 1 is taken by "outside tolerance".</summary>
    public const int InputErrorExitCode = 2;

    /// <summary>Exit code: 0 all within tolerance with identical greedy tokens, 1 otherwise, 2 bad input, 70 internal error.</summary>
    public static int Run(string hfModel, string? referencePath, double tolerance, bool streamLayers = false) =>
        Run(new CompareOptions(hfModel) { ReferencePath = referencePath, Tolerance = tolerance, StreamLayers = streamLayers }, Console.Out, Console.Error);

    /// <summary>Exit code: 0 all within tolerance with identical greedy tokens, 1 otherwise, 2 bad input, 70 internal error.</summary>
    public static int Run(CompareOptions options, TextWriter output, TextWriter error) =>
        CommandErrors.Run("compare", error, () => Compare(options, output), InputErrorExitCode);

    private static int Compare(CompareOptions options, TextWriter output)
    {
        if (!(options.Tolerance >= 0)) throw new ArgumentException($"--tolerance must be a non-negative number, got {options.Tolerance}");
        if (!(options.LayoutTolerance >= 0)) throw new ArgumentException($"--layout-tolerance must be a non-negative number, got {options.LayoutTolerance}");
        string referencePath = options.ReferencePath ?? Path.Combine(options.HfModel, ReferenceOutputs.FileName);
        bool haveReference = File.Exists(referencePath);
        IReadOnlyList<ReferenceCase> cases;
        if (haveReference)
        {
            if (options.InputIds is not null) throw new ArgumentException($"--input-ids is for comparing without a reference file, but {referencePath} exists");
            cases = ReferenceOutputs.Load(referencePath);
        }
        else if (options.MegatronPath is not null && options.InputIds is not null)
        {
            // Inputs only: HF and Megatron are compared with each other.
            cases = new[] { new ReferenceCase("input", GenerateCommand.ParseIds(options.InputIds), Array.Empty<float>(), new int[GreedyTokensWithoutReference], null, null) };
        }
        else
        {
            throw new FileNotFoundException($"{referencePath}: reference outputs not found (give --reference, or --megatron-path with --input-ids)", referencePath);
        }

        var rows = new List<ComparisonRow>();
        List<CaseComparison> hfResults;
        using (var model = ReferenceModel.LoadHf(options.HfModel, options.StreamLayers))
        {
            RequireVisionForImageCases(model, cases, referencePath);
            hfResults = cases.Select(c => CaseComparison.Run(model, c)).ToList();
        }
        if (haveReference) rows.AddRange(hfResults.Select(r => new ComparisonRow("HF vs reference", r, options.Tolerance)));

        bool gdnModel = false;
        if (options.MegatronPath is not null)
        {
            List<CaseComparison> megatronResults;
            using (var model = ReferenceModel.LoadMegatron(options.MegatronPath, options.HfModel, options.StreamLayers))
            {
                gdnModel = model.Config.LinearAttentionLayers.Any(l => l);
                megatronResults = cases.Select(c => CaseComparison.Run(model, c)).ToList();
            }
            if (haveReference) rows.AddRange(megatronResults.Select(r => new ComparisonRow("Megatron vs reference", r, options.Tolerance)));
            rows.AddRange(hfResults.Zip(megatronResults, (a, b) => new ComparisonRow("HF vs Megatron", CaseComparison.Between(a, b), options.LayoutTolerance)));
        }
        return Report(rows, output, gdnModel);
    }

    /// <summary>Refused here, as bad input, rather than deep in the forward pass.</summary>
    private static void RequireVisionForImageCases(ReferenceModel model, IReadOnlyList<ReferenceCase> cases, string referencePath)
    {
        if (model.Config.Vision is not null) return;
        if (cases.FirstOrDefault(c => c.Image is not null) is { } imageCase)
            throw new InvalidDataException($"{referencePath}: case '{imageCase.Name}' has an image, but {model.Config.Where} has no vision encoder");
    }

    private sealed record ComparisonRow(string What, CaseComparison Result, double Tolerance)
    {
        public bool Passes => Result.Passes(Tolerance);
    }

    private static int Report(IReadOnlyList<ComparisonRow> rows, TextWriter output, bool gdnModel)
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
        bool pass = rows.All(r => r.Passes);
        console.MarkupLine(pass ? "[green]PASS[/]" : "[red]FAIL[/]");
        if (!pass && gdnModel && rows.Any(r => r.What == "HF vs Megatron" && !r.Passes))
            console.MarkupLine("note: the Megatron checkpoint stores the GDN output norm as bf16(w - 1), which loses precision for norm weights far from 1.");
        return pass ? 0 : 1;
    }
}
