using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Benchmarks;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MegatronBridge.Cli.Commands;

internal static class BenchCommand
{
    public static Command Create()
    {
        var size = new Option<string>("--size") { Description = "Preset: 27b, 35b-a3b, 397b-a17b or all.", DefaultValueFactory = _ => "27b" };
        var layers = new Option<int>("--layers") { Description = "Decoder layers to synthesise (vision blocks are cut to the same count).", DefaultValueFactory = _ => 1 };
        var workDir = new Option<DirectoryInfo>("--work-dir") { Description = "Where the synthetic checkpoints are written (needs room for about 3 copies).", DefaultValueFactory = _ => new DirectoryInfo(Path.GetTempPath()) };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var keep = new Option<bool>("--keep") { Description = "Keep the work folder." };
        var command = new Command("bench", "Synthesise a checkpoint with real shapes and time raw copy, import and export on it.");
        foreach (var o in new Option[] { size, layers, workDir, json, keep }) command.Options.Add(o);
        command.SetAction(parse => CommandErrors.Run("bench", parse.InvocationConfiguration.Error, () =>
        {
            string name = parse.GetValue(size)!;
            var presets = name.Equals("all", StringComparison.OrdinalIgnoreCase) ? BenchPreset.All : [BenchPreset.Find(name)];
            int layerCount = parse.GetValue(layers);
            if (layerCount < 1) throw new ArgumentException("--layers must be at least 1");
            bool asJson = parse.GetValue(json);
            var options = new BenchOptions(parse.GetValue(workDir)!.FullName) { Layers = layerCount, Keep = parse.GetValue(keep) };
            var results = presets.Select(p => BenchRunner.Run(p, options, asJson ? null : m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"))).ToList();
            if (asJson) Console.WriteLine(ToJson(results).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else foreach (var r in results) AnsiConsole.Write(ToTable(r));
            return results.Any(r => r.Phases.Any(p => p.Error is not null)) ? 1 : 0;
        }));
        return command;
    }

    private static IRenderable ToTable(BenchResult result)
    {
        var table = new Table()
            .Title($"{result.Preset}, {result.Layers} layer(s), {result.CheckpointBytes / 1e9:F2} GB of bf16" + (result.PageCacheDropped ? "" : " (page cache not dropped)"))
            .AddColumn("phase").AddColumn(new TableColumn("GB").RightAligned()).AddColumn(new TableColumn("s").RightAligned())
            .AddColumn(new TableColumn("GB/s").RightAligned()).AddColumn(new TableColumn("x raw copy").RightAligned())
            .AddColumn(new TableColumn("peak RssAnon MiB").RightAligned());
        foreach (var p in result.Phases)
            table.AddRow(Markup.Escape(p.Name), $"{p.Bytes / 1e9:F2}", $"{p.Seconds:F2}", $"{p.GigabytesPerSecond:F2}",
                p.RatioToRawCopy is { } r ? $"{r:F2}" : "-", p.Error is null ? $"{p.PeakAnonBytes / (1024.0 * 1024):F0}" : "[red]failed[/]");
        var errors = result.Phases.Where(p => p.Error is not null).Select(p => new Markup($"[red]{Markup.Escape(p.Name)}:[/] {Markup.Escape(p.Error!)}"));
        return new Rows(new IRenderable[] { table }.Concat(errors));
    }

    private static JsonArray ToJson(IEnumerable<BenchResult> results) => new(results.Select(r => (JsonNode)new JsonObject
    {
        ["preset"] = r.Preset,
        ["layers"] = r.Layers,
        ["checkpoint_bytes"] = r.CheckpointBytes,
        ["synthesis_seconds"] = r.SynthesisSeconds,
        ["page_cache_dropped"] = r.PageCacheDropped,
        ["phases"] = new JsonArray(r.Phases.Select(p => (JsonNode)new JsonObject
        {
            ["name"] = p.Name,
            ["bytes"] = p.Bytes,
            ["seconds"] = p.Seconds,
            ["gb_per_s"] = p.GigabytesPerSecond,
            ["ratio_to_raw_copy"] = p.RatioToRawCopy,
            ["peak_rss_anon_bytes"] = p.PeakAnonBytes,
            ["error"] = p.Error,
        }).ToArray()),
    }).ToArray());
}
