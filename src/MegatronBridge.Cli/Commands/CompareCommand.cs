using System.CommandLine;
using System.Globalization;
using MegatronBridge.Reference;
using Spectre.Console;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// <c>compare</c>: runs the CPU reference forward of a checkpoint on the inputs of a reference file and reports how
/// far its logits, image features and greedy tokens are from what transformers computed.
/// </summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var hfModel = new Option<string>("--hf-model") { Description = "Hugging Face checkpoint folder (config.json + safetensors).", Required = true };
        var reference = new Option<string?>("--reference") { Description = "Reference outputs (safetensors); default: <hf-model>/reference_outputs.safetensors." };
        var tolerance = new Option<double>("--tolerance") { Description = "Largest max-abs logit / feature difference that passes.", DefaultValueFactory = _ => 1e-3 };
        var streamLayers = new Option<bool>("--stream-layers") { Description = "Read each decoder layer from disk when the forward reaches it (bounded memory, slower)." };
        var command = new Command("compare", "Run the reference forward and compare logits, image features and greedy tokens with a reference file.")
        {
            hfModel, reference, tolerance, streamLayers,
        };
        command.SetAction(parse => Run(parse.GetValue(hfModel)!, parse.GetValue(reference), parse.GetValue(tolerance), parse.GetValue(streamLayers)));
        return command;
    }

    /// <summary>Exit code: 0 all within tolerance with identical greedy tokens, 1 otherwise, 2 bad input.</summary>
    public static int Run(string hfModel, string? referencePath, double tolerance, bool streamLayers = false)
    {
        try
        {
            if (!(tolerance >= 0)) throw new ArgumentException($"--tolerance must be a non-negative number, got {tolerance}");
            referencePath ??= Path.Combine(hfModel, ReferenceOutputs.FileName);
            if (!File.Exists(referencePath))
                throw new FileNotFoundException($"{referencePath}: reference outputs not found (give --reference)", referencePath);
            var cases = ReferenceOutputs.Load(referencePath);
            using var model = ReferenceModel.LoadHf(hfModel, streamLayers);
            return Compare(model, cases, tolerance);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or KeyNotFoundException or InvalidOperationException or FormatException or NotSupportedException)
        {
            Console.Error.WriteLine($"compare: {e.Message}");
            return 2;
        }
    }

    /// <summary>
    /// Runs an already loaded model (from any checkpoint layout) on the reference cases, prints the table and
    /// returns 0 when every case passes, 1 otherwise.
    /// </summary>
    public static int Compare(ReferenceModel model, IReadOnlyList<ReferenceCase> cases, double tolerance)
    {
        var results = cases.Select(c => CaseComparison.Run(model, c)).ToList();
        Report(results, tolerance);
        bool pass = results.All(r => r.Passes(tolerance));
        AnsiConsole.MarkupLine(pass ? "[green]PASS[/]" : $"[red]FAIL[/] (tolerance {tolerance.ToString("G3", CultureInfo.InvariantCulture)})");
        return pass ? 0 : 1;
    }

    private static void Report(IReadOnlyList<CaseComparison> results, double tolerance)
    {
        var table = new Table().AddColumns("case", "logits max |Δ|", "logits mean |Δ|", "image features max |Δ|", "greedy tokens");
        foreach (var r in results)
        {
            string Cell(double value)
            {
                string text = value.ToString("E3", CultureInfo.InvariantCulture);
                return value <= tolerance ? $"[green]{text}[/]" : $"[red]{text}[/]";
            }
            table.AddRow(
                Markup.Escape(r.Name),
                Cell(r.Logits.MaxAbs),
                Markup.Escape(r.Logits.MeanAbs.ToString("E3", CultureInfo.InvariantCulture)),
                r.ImageEmbeds is { } e ? Cell(e.MaxAbs) : "-",
                r.GreedyMatches ? $"[green]match ({r.ExpectedGreedy.Length})[/]"
                    : $"[red]differ[/]: {Markup.Escape(string.Join(",", r.ActualGreedy))} vs {Markup.Escape(string.Join(",", r.ExpectedGreedy))}");
        }
        AnsiConsole.Write(table);
    }
}
