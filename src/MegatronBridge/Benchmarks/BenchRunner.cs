using System.Diagnostics;
using MegatronBridge.Conversion;
using MegatronBridge.Conversion.Checkpoints;

namespace MegatronBridge.Benchmarks;

public sealed record BenchOptions(string WorkDir)
{
    public int Layers { get; init; } = 1;
    public bool Keep { get; init; }
}

/// <summary>One timed phase: bytes moved (source tensor bytes), time, throughput, ratio to the raw copy, peak RssAnon.</summary>
public sealed record BenchPhase(string Name, long Bytes, double Seconds, long PeakAnonBytes, string? Error)
{
    public double GigabytesPerSecond => Seconds > 0 ? Bytes / Seconds / 1e9 : 0;
    public double? RatioToRawCopy { get; init; }
}

public sealed record BenchResult(string Preset, int Layers, long CheckpointBytes, double SynthesisSeconds, bool PageCacheDropped, IReadOnlyList<BenchPhase> Phases);

/// <summary>Synthesises a preset's checkpoint and times raw copy, import (torch_dist, legacy TP8/EP8) and export on it.</summary>
public static class BenchRunner
{
    public static BenchResult Run(BenchPreset preset, BenchOptions options, Action<string>? log = null)
    {
        string root = Path.Combine(Path.GetFullPath(options.WorkDir), $"bench-{preset.Name}-{options.Layers}l-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(root);
        try
        {
            var config = BenchPreset.CutLayers(preset.LoadConfig(), options.Layers);
            string hf = Path.Combine(root, "hf");
            log?.Invoke($"{preset.Name}: synthesising {options.Layers} layer(s) in {hf}");
            var synth = Stopwatch.StartNew();
            long bytes = BenchSynthesizer.Write(config, hf);
            synth.Stop();

            bool dropped = true;
            var phases = new List<BenchPhase>();
            BenchPhase Measure(string name, Func<long> action)
            {
                dropped &= PageCache.SyncAndDrop();
                log?.Invoke($"{preset.Name}: {name}");
                using var sampler = MemorySampler.Start();
                var clock = Stopwatch.StartNew();
                string? error = null;
                long moved = 0;
                try { moved = action(); }
                catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException or InvalidOperationException or NotSupportedException)
                {
                    error = e.Message;
                }
                // Data still in the page cache is not on disk yet: count the flush in the phase's time.
                PageCache.Sync();
                clock.Stop();
                sampler.Dispose();
                var phase = new BenchPhase(name, moved, clock.Elapsed.TotalSeconds, sampler.PeakBytes, error);
                phases.Add(phase);
                return phase;
            }

            var raw = Measure("raw copy", () => RawCopy.CopyFolder(hf, Path.Combine(root, "raw-copy")) - new FileInfo(Path.Combine(hf, "config.json")).Length);
            DeleteQuietly(Path.Combine(root, "raw-copy"));
            string dist = Path.Combine(root, "torch-dist");
            Measure("import torch_dist", () => CheckpointConverter.Import(new ImportRequest(hf, dist)).Bytes);
            string legacy = Path.Combine(root, "torch-legacy");
            bool moe = config["text_config"]?["num_experts"] is not null;
            int tp = LegacyTensorParallel(config);
            var layout = new ParallelLayout(tp: tp, ep: moe ? 8 : 1);
            Measure($"import torch TP{tp}{(moe ? " EP8" : "")}", () => CheckpointConverter.Import(new ImportRequest(hf, legacy) { Format = MegatronFormat.Torch, Layout = layout }).Bytes);
            DeleteQuietly(legacy);
            string export = Path.Combine(root, "hf-export");
            Measure("export torch_dist -> HF", () => CheckpointConverter.Export(new ExportRequest(hf, dist, export)).Bytes);

            double rawRate = raw.Error is null ? raw.GigabytesPerSecond : 0;
            var withRatios = phases.Select(p => p with { RatioToRawCopy = rawRate > 0 && p.Error is null ? p.GigabytesPerSecond / rawRate : null }).ToList();
            return new BenchResult(preset.Name, options.Layers, bytes, synth.Elapsed.TotalSeconds, dropped, withRatios);
        }
        finally
        {
            if (!options.Keep) DeleteQuietly(root);
        }
    }

    /// <summary>TP 8 where the model's query groups allow it (the 35B-A3B has 2 KV heads), else the largest that splits them.</summary>
    internal static int LegacyTensorParallel(System.Text.Json.Nodes.JsonObject config)
    {
        var text = config["text_config"] as System.Text.Json.Nodes.JsonObject;
        long kvHeads = text?["num_key_value_heads"]?.GetValue<long>() ?? 1;
        long gdnHeads = text?["linear_num_key_heads"]?.GetValue<long>() ?? 1;
        int tp = 8;
        while (tp > 1 && (kvHeads % tp != 0 || gdnHeads % tp != 0)) tp /= 2;
        return tp;
    }

    private static void DeleteQuietly(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
