using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MegatronBridge.Benchmarks;
using MegatronBridge.IO;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MegatronBridge.Cli.Commands;

internal static class BenchCommand
{
    public static Command Create()
    {
        var size = new Option<string>("--size") { Description = "Preset: 27b, 35b-a3b, 397b-a17b or all.", DefaultValueFactory = _ => "27b" };
        var layers = new Option<string>("--layers")
        {
            Description = "Decoder layers to synthesise (vision blocks are cut to the same count); a list such as 1,2 runs each and reports how time and memory scale.",
            DefaultValueFactory = _ => "1",
        };
        var noMtp = new Option<bool>("--no-mtp") { Description = "Leave out the MTP layer (a full MoE layer for the MoE presets), to fit a smaller disk." };
        var noLegacy = new Option<bool>("--no-legacy") { Description = "Skip the legacy torch import (it replicates every non-expert tensor on each expert rank)." };
        var workDir = new Option<DirectoryInfo>("--work-dir") { Description = "Where the synthetic checkpoints are written (needs room for about 2 copies).", DefaultValueFactory = _ => new DirectoryInfo(Path.GetTempPath()) };
        var rounds = new Option<int>("--rounds") { Description = "Run every phase this many times, interleaved, and report medians (the disk's speed drifts).", DefaultValueFactory = _ => 1 };
        var settle = new Option<double>("--settle")
        {
            Description = "Seconds to wait before each phase for every 10 GB of page cache freed since the previous one (at least once), after a flush and a cache drop, so that every phase meets memory a virtual machine hands back to its host in the same state.",
            DefaultValueFactory = _ => 15,
        };
        var fp8 = new Option<bool>("--fp8") { Description = "Also time export --quantize fp8, a raw copy of the FP8 folder and the import of that FP8 release (read + written bytes, against that copy)." };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var keep = new Option<bool>("--keep") { Description = "Keep the work folder." };
        var command = new Command("bench", "Synthesise a checkpoint with real shapes and time raw copy, import and export on it.");
        foreach (var o in new Option[] { size, layers, noMtp, noLegacy, rounds, settle, workDir, fp8, json, keep }) command.Options.Add(o);
        command.SetAction(parse => CommandErrors.Run("bench", parse.InvocationConfiguration.Error, () =>
        {
            string name = parse.GetValue(size)!;
            var presets = name.Equals("all", StringComparison.OrdinalIgnoreCase) ? BenchPreset.All : [BenchPreset.Find(name)];
            var layerCounts = ParseLayers(parse.GetValue(layers)!);
            bool asJson = parse.GetValue(json);
            var results = new List<BenchResult>();
            foreach (var preset in presets)
                foreach (int count in layerCounts)
                {
                    var options = new BenchOptions(parse.GetValue(workDir)!.FullName)
                    {
                        Layers = count, Mtp = !parse.GetValue(noMtp), Legacy = !parse.GetValue(noLegacy), Rounds = parse.GetValue(rounds), Keep = parse.GetValue(keep),
                        SettleSeconds = parse.GetValue(settle), Fp8 = parse.GetValue(fp8),
                    };
                    var result = BenchRunner.Run(preset, options, asJson ? null : m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"));
                    results.Add(result);
                    if (!asJson) AnsiConsole.Write(ToTable(result));
                }
            var scaling = BenchScaling.Series(results);
            if (asJson) JsonOutput.Write(parse.InvocationConfiguration.Output, ToJson(results, scaling));
            else if (scaling.Count > 0) AnsiConsole.Write(ToTable(scaling));
            return results.Any(r => r.Phases.Any(p => p.Error is not null)) ? 1 : 0;
        }));
        return command;
    }

    /// <summary>"1" or "1,2,4": distinct positive layer counts, in ascending order.</summary>
    internal static IReadOnlyList<int> ParseLayers(string text)
    {
        var counts = new SortedSet<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
                throw new InvalidInputException($"--layers: '{part}' is not a positive whole number (use e.g. 1 or 1,2)");
            counts.Add(n);
        }
        return counts.ToList();
    }

    private static IRenderable ToTable(BenchResult result)
    {
        string rounds = result.Rounds > 1 ? $", median of {result.Rounds} rounds" : "";
        var table = new Table()
            .Title($"{result.Preset}, {result.Layers} layer(s){(result.Mtp ? "" : " without MTP")}, {result.CheckpointBytes / 1e9:F2} GB of bf16{rounds}" + (result.PageCacheDropped ? "" : " (page cache not dropped)"))
            .AddColumn("phase").AddColumn(new TableColumn("GB").RightAligned()).AddColumn(new TableColumn("s").RightAligned())
            .AddColumn(new TableColumn("GB/s").RightAligned()).AddColumn(new TableColumn("x raw copy").RightAligned())
            .AddColumn(new TableColumn("CPU s/GB").RightAligned()).AddColumn(new TableColumn("peak RssAnon MiB").RightAligned());
        table.Caption("x raw copy: against the median raw copy of the source, or for the legacy import (more bytes written than read) a raw copy of its output; " +
            "CPU s/GB: processor time (user + kernel, all threads) per GB moved");
        foreach (var p in result.Phases)
        {
            if (p.Skipped is not null)
            {
                table.AddRow(Markup.Escape(p.Name), "-", "-", "-", "-", "-", "[yellow]skipped[/]");
                continue;
            }
            string seconds = p.Rounds > 1 && p.Error is null ? $"{p.Seconds:F2} ({p.FastestSeconds:F1}-{p.SlowestSeconds:F1})" : $"{p.Seconds:F2}";
            table.AddRow(Markup.Escape(p.Name + (p.Note is null ? "" : " *")), $"{p.Bytes / 1e9:F2}", seconds, $"{p.GigabytesPerSecond:F2}",
                p.RatioToRawCopy is { } r ? $"{r:F2}" : "-", p.Error is null ? $"{p.CpuSecondsPerGigabyte:F2}" : "-",
                p.Error is null ? $"{Mib(p.PeakAnonBytes):F0}" : "[red]failed[/]");
        }
        var notes = result.Phases.Where(p => p.Error is not null).Select(p => new Markup($"[red]{Markup.Escape(p.Name)}:[/] {Markup.Escape(p.Error!)}"))
            .Concat(result.Phases.Where(p => p.Skipped is not null).Select(p => new Markup($"[yellow]{Markup.Escape(p.Name)} skipped:[/] {Markup.Escape(p.Skipped!)}")))
            .Concat(result.Phases.Where(p => p.Note is not null).Select(p => new Markup($"* {Markup.Escape(p.Name)}: {Markup.Escape(p.Note!)}")));
        return new Rows(new IRenderable[] { table }.Concat(notes));
    }

    private static Table ToTable(IReadOnlyList<BenchScalingRow> rows)
    {
        var table = new Table().Title("scaling with layers (time / bytes change near 0 = linear in bytes moved)")
            .AddColumn("preset").AddColumn("phase").AddColumn("layers").AddColumn(new TableColumn("bytes x").RightAligned())
            .AddColumn(new TableColumn("time x").RightAligned()).AddColumn(new TableColumn("time / bytes change").RightAligned())
            .AddColumn(new TableColumn("s per layer").RightAligned()).AddColumn(new TableColumn("projected full model").RightAligned())
            .AddColumn(new TableColumn("peak RssAnon MiB").RightAligned());
        foreach (var r in rows)
            table.AddRow(Markup.Escape(r.Preset), Markup.Escape(r.Phase), $"{r.FromLayers} -> {r.ToLayers}", $"{r.BytesRatio:F2}", $"{r.TimeRatio:F2}",
                $"{r.TimePerByteChange:+0.0%;-0.0%}", $"{r.SecondsPerLayer:F2}", $"{r.ProjectedFullModelSeconds / 60:F1} min ({r.FullModelLayers} layers)",
                $"{Mib(r.FromPeakAnonBytes):F0} -> {Mib(r.ToPeakAnonBytes):F0}");
        return table;
    }

    private static double Mib(long bytes) => bytes / (1024.0 * 1024);

    private static JsonObject ToJson(IEnumerable<BenchResult> results, IEnumerable<BenchScalingRow> scaling) => new()
    {
        ["runs"] = new JsonArray(results.Select(r => (JsonNode)new JsonObject
        {
            ["preset"] = r.Preset,
            ["layers"] = r.Layers,
            ["mtp"] = r.Mtp,
            ["checkpoint_bytes"] = r.CheckpointBytes,
            ["rounds"] = r.Rounds,
            ["raw_copy_gb_per_s"] = r.RawCopyGigabytesPerSecond,
            ["synthesis_seconds"] = r.SynthesisSeconds,
            ["page_cache_dropped"] = r.PageCacheDropped,
            ["phases"] = new JsonArray(r.Phases.Select(p => (JsonNode)new JsonObject
            {
                ["name"] = p.Name,
                ["bytes"] = p.Bytes,
                ["seconds"] = p.Seconds,
                ["fastest_seconds"] = p.FastestSeconds,
                ["slowest_seconds"] = p.SlowestSeconds,
                ["gb_per_s"] = p.GigabytesPerSecond,
                ["ratio_to_raw_copy"] = p.RatioToRawCopy,
                ["baseline"] = p.Baseline,
                ["cpu_seconds"] = p.CpuSeconds,
                ["peak_rss_anon_bytes"] = p.PeakAnonBytes,
                ["error"] = p.Error,
                ["skipped"] = p.Skipped,
                ["note"] = p.Note,
            }).ToArray()),
        }).ToArray()),
        ["scaling"] = new JsonArray(scaling.Select(s => (JsonNode)new JsonObject
        {
            ["preset"] = s.Preset,
            ["phase"] = s.Phase,
            ["from_layers"] = s.FromLayers,
            ["to_layers"] = s.ToLayers,
            ["bytes_ratio"] = s.BytesRatio,
            ["time_ratio"] = s.TimeRatio,
            ["time_per_byte_change"] = s.TimePerByteChange,
            ["seconds_per_layer"] = s.SecondsPerLayer,
            ["projected_full_model_seconds"] = s.ProjectedFullModelSeconds,
            ["full_model_layers"] = s.FullModelLayers,
            ["from_peak_rss_anon_bytes"] = s.FromPeakAnonBytes,
            ["to_peak_rss_anon_bytes"] = s.ToPeakAnonBytes,
        }).ToArray()),
    };
}
