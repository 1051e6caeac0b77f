using System.CommandLine;
using System.Globalization;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using Spectre.Console;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// <c>compare</c>: parses the options into a <see cref="CompareRequest"/>, runs <see cref="ReferenceComparer"/> (the
/// CPU reference forward against the reference file and, with <c>--megatron-path</c>, HF vs Megatron side by side)
/// and prints its rows as a table, one layer-by-layer line per case, and PASS or FAIL.
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
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (every row, the layer-by-layer divergence, PASS as 'passed'; errors too, on stderr)." };
        var command = new Command("compare", "Run the reference forward (HF and/or Megatron layout) and compare logits, image features and greedy tokens.")
        {
            hfModel, megatronPath, reference, tolerance, layoutTolerance, streamLayers, inputIds, prompt, image, processor, json,
        };
        command.SetAction(parse => Run(new CompareRequest(parse.GetValue(hfModel)!)
        {
            MegatronPath = parse.GetValue(megatronPath),
            ReferencePath = parse.GetValue(reference),
            Tolerance = parse.GetValue(tolerance),
            LayoutTolerance = parse.GetValue(layoutTolerance),
            InputIds = parse.GetValue(inputIds),
            Prompt = parse.GetValue(prompt),
            Images = parse.GetValue(image) ?? Array.Empty<string>(),
            Processor = parse.GetValue(processor),
        }, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, parse.GetValue(json)));
        return command;
    }

    /// <summary>Bad input; 1 is taken by "outside tolerance".</summary>
    public const int InputErrorExitCode = 2;

    /// <summary>Exit code: 0 all within tolerance with identical greedy tokens, 1 otherwise, 2 bad input, 70 internal error.</summary>
    public static int Run(string hfModel, string? referencePath, double tolerance) =>
        Run(new CompareRequest(hfModel) { ReferencePath = referencePath, Tolerance = tolerance }, Console.Out, Console.Error);

    /// <summary>Exit code: 0 all within tolerance with identical greedy tokens, 1 otherwise, 2 bad input, 70 internal error.</summary>
    /// <param name="json">Print the result (and an error, on <paramref name="error"/>) as one JSON object.</param>
    public static int Run(CompareRequest request, TextWriter output, TextWriter error, bool json = false) =>
        CommandErrors.Run("compare", error, () =>
        {
            var result = ReferenceComparer.Compare(request);
            if (!json) return Report(result, output);
            JsonOutput.Write(output, CompareJson.ToJson(result));
            return result.Passes ? 0 : 1;
        }, InputErrorExitCode, json);

    private static int Report(CompareResult result, TextWriter output)
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
        foreach (var row in result.Rows)
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
        foreach (var side in result.Layerwise)
        {
            string Describe(StepDifference step) =>
                $"{step.Where} (max |Δ| {step.Difference.MaxAbs.ToString("E3", CultureInfo.InvariantCulture)}, mean |Δ| {step.Difference.MeanAbs.ToString("E3", CultureInfo.InvariantCulture)})";
            string tolerance = result.LayoutTolerance.ToString("G3", CultureInfo.InvariantCulture);
            string line = side.FirstDivergence is { } first
                ? $"first divergence past {tolerance}: {Describe(first)}"
                : $"hidden states agree after all {side.Steps} sub-blocks within {tolerance}; largest: {Describe(side.Largest)}";
            output.WriteLine($"HF vs Megatron, case {side.Case}, layer by layer: {line}");
        }
        if (result.ImageCasesSkippedReason is { } reason)
            output.WriteLine($"skipped {result.ImageCasesSkipped} image case(s): {reason}");
        bool pass = result.Passes;
        console.MarkupLine(pass ? "[green]PASS[/]" : "[red]FAIL[/]");
        if (result.Note is { } note)
            console.MarkupLine("note: " + Markup.Escape(note));
        return pass ? 0 : 1;
    }
}
