using System.Diagnostics;
using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.Conversion.Checkpoints;

namespace MegatronBridge.Benchmarks;

public sealed record BenchOptions(string WorkDir)
{
    public int Layers { get; init; } = 1;
    /// <summary>Keep the real config's MTP layer (a full MoE layer for the MoE presets); off to fit a smaller disk.</summary>
    public bool Mtp { get; init; } = true;
    public bool Legacy { get; init; } = true;
    public bool Keep { get; init; }
}

/// <summary>One timed phase: bytes moved (source tensor bytes), time, throughput, ratio to the raw copy, peak RssAnon.</summary>
public sealed record BenchPhase(string Name, long Bytes, double Seconds, long PeakAnonBytes, string? Error)
{
    public double GigabytesPerSecond => Seconds > 0 ? Bytes / Seconds / 1e9 : 0;
    public double? RatioToRawCopy { get; init; }
    /// <summary>Why the phase was not run (not enough free disk, or switched off); null when it ran.</summary>
    public string? Skipped { get; init; }
    public bool Succeeded => Error is null && Skipped is null;
    /// <summary>Which raw copy the ratio divides by (null for the raw copies themselves).</summary>
    public string? Baseline { get; init; }
}

public sealed record BenchResult(string Preset, int Layers, bool Mtp, long CheckpointBytes, double SynthesisSeconds, bool PageCacheDropped, IReadOnlyList<BenchPhase> Phases)
{
    /// <summary>Decoder layers of the real model (what the scaling projection extrapolates to).</summary>
    public int FullModelLayers { get; init; }
    /// <summary>The baseline the ratios divide by: the faster of the two raw copies.</summary>
    public double RawCopyGigabytesPerSecond { get; init; }
}

/// <summary>
/// Synthesises a preset's checkpoint and times raw copy, import (torch_dist, legacy TP8/EP8) and export on it.
/// The phases run one after another and each output is deleted as soon as it is no longer needed, so the disk must
/// hold two copies of the checkpoint (source + one output); the legacy phase is skipped, and export reads a
/// config-only --hf-model, when the free space says they would not fit.
/// </summary>
public static class BenchRunner
{
    private const string FirstCopyName = "raw copy (first)";
    private const string LastCopyName = "raw copy (last)";
    private const string LegacyCopyName = "raw copy of the legacy output";
    private const double DiskMargin = 1.03;
    private const long DiskSlackBytes = 1L << 30;

    public static BenchResult Run(BenchPreset preset, BenchOptions options, Action<string>? log = null)
    {
        var full = preset.LoadConfig();
        var config = BenchPreset.CutLayers(full, options.Layers);
        if (!options.Mtp && config["text_config"] is JsonObject text) text["mtp_num_hidden_layers"] = 0L;
        var tensors = BenchTensorList.FromConfig(config);
        long checkpointBytes = tensors.Sum(t => t.ByteLength);

        string workDir = Path.GetFullPath(options.WorkDir);
        Directory.CreateDirectory(workDir);
        long need = Needed(2 * checkpointBytes);
        long free = FreeBytes(workDir);
        if (free < need)
            throw new IOException($"{workDir}: bench {preset.Name} with {options.Layers} layer(s){(options.Mtp ? "" : " without MTP")} needs about " +
                $"{need / 1e9:F1} GB free (the {checkpointBytes / 1e9:F1} GB checkpoint and one output at a time), {free / 1e9:F1} GB are free; " +
                "use fewer --layers, --no-mtp or another --work-dir");

        string root = Path.Combine(workDir, $"bench-{preset.Name}-{options.Layers}l-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(root);
        try
        {
            string hf = Path.Combine(root, "hf");
            log?.Invoke($"{preset.Name}: synthesising {options.Layers} layer(s){(options.Mtp ? "" : " without MTP")}, {checkpointBytes / 1e9:F1} GB, in {hf}");
            var synth = Stopwatch.StartNew();
            long bytes = BenchSynthesizer.Write(config, hf);
            synth.Stop();

            bool dropped = true;
            var phases = new List<BenchPhase>();
            void Skip(string name, string why)
            {
                log?.Invoke($"{preset.Name}: {name} skipped: {why}");
                phases.Add(new BenchPhase(name, 0, 0, 0, null) { Skipped = why });
            }
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

            // The disk's speed drifts (host-side caching of a virtual disk, other tenants): the raw copy of the source
            // runs first and last, and the faster of the two is the baseline, so the ratios are conservative.
            string rawCopy = Path.Combine(root, "raw-copy");
            Measure(FirstCopyName, () => RawCopy.CopyFolder(hf, rawCopy) - ConfigBytes(hf));
            DeleteQuietly(rawCopy);

            bool moe = config["text_config"]?["num_experts"] is not null;
            int tp = LegacyTensorParallel(config);
            int ep = moe ? 8 : 1;
            string legacyName = $"import torch TP{tp}{(moe ? $" EP{ep}" : "")}";
            long legacyNeed = Needed(LegacyBytes(tensors, ep));
            if (!options.Legacy) Skip(legacyName, "--no-legacy");
            else if (FreeBytes(root) < legacyNeed)
                Skip(legacyName, $"its {LegacyBytes(tensors, ep) / 1e9:F1} GB (every non-expert tensor on each of the {ep} expert ranks) do not fit the {FreeBytes(root) / 1e9:F1} GB free");
            else
            {
                string legacy = Path.Combine(root, "torch-legacy");
                var layout = new ParallelLayout(tp: tp, ep: ep);
                var imported = Measure(legacyName, () => CheckpointConverter.Import(new ImportRequest(hf, legacy) { Format = MegatronFormat.Torch, Layout = layout }).Bytes);
                // The legacy output is several times the source (replicas): its fair baseline is a raw copy of those
                // same bytes, since a long write runs slower than a short one on disks with a write cache.
                if (imported.Succeeded && FreeBytes(root) >= Needed(imported.Bytes))
                    Measure(LegacyCopyName, () => RawCopy.CopyFolder(legacy, rawCopy));
                DeleteQuietly(rawCopy);
                DeleteQuietly(legacy);
            }

            string dist = Path.Combine(root, "torch-dist");
            Measure("import torch_dist", () => CheckpointConverter.Import(new ImportRequest(hf, dist)).Bytes);

            string export = Path.Combine(root, "hf-export");
            if (FreeBytes(root) >= Needed(checkpointBytes))
                Measure("export torch_dist -> HF", () => CheckpointConverter.Export(new ExportRequest(hf, dist, export)).Bytes);
            else
            {
                // No room for a third copy: export the way a user without the original weights does, from config.json alone.
                string configOnly = Path.Combine(root, "hf-config");
                Directory.CreateDirectory(configOnly);
                File.Copy(Path.Combine(hf, "config.json"), Path.Combine(configOnly, "config.json"));
                DeleteQuietly(hf);
                log?.Invoke($"{preset.Name}: no room for a third copy; the source weights are deleted and export reads a config-only --hf-model");
                Measure("export torch_dist -> HF (config-only --hf-model)", () => CheckpointConverter.Export(new ExportRequest(configOnly, dist, export)).Bytes);
            }

            DeleteQuietly(export);
            // In config-only mode the source is gone; the torch_dist checkpoint holds the same tensor bytes.
            string again = Directory.Exists(hf) ? hf : dist;
            Measure(LastCopyName, () => again == hf ? RawCopy.CopyFolder(hf, rawCopy) - ConfigBytes(hf) : RawCopy.CopyFolder(dist, rawCopy));
            DeleteQuietly(rawCopy);

            double rawRate = phases.Where(p => p.Name is FirstCopyName or LastCopyName && p.Succeeded).Select(p => p.GigabytesPerSecond).DefaultIfEmpty(0).Max();
            var legacyCopy = phases.FirstOrDefault(p => p.Name == LegacyCopyName && p.Succeeded);
            var withRatios = phases.Select(p =>
            {
                bool ownBaseline = p.Name == legacyName && legacyCopy is not null;
                double baseline = ownBaseline ? legacyCopy!.GigabytesPerSecond : rawRate;
                return p with
                {
                    RatioToRawCopy = baseline > 0 && p.Succeeded ? p.GigabytesPerSecond / baseline : null,
                    Baseline = p.Name.StartsWith("raw copy", StringComparison.Ordinal) ? null : ownBaseline ? LegacyCopyName : "faster source raw copy",
                };
            }).ToList();
            int fullLayers = (full["text_config"]?["num_hidden_layers"]?.GetValue<int>()) ?? options.Layers;
            return new BenchResult(preset.Name, options.Layers, options.Mtp, bytes, synth.Elapsed.TotalSeconds, dropped, withRatios)
            {
                FullModelLayers = fullLayers,
                RawCopyGigabytesPerSecond = rawRate,
            };
        }
        finally
        {
            if (!options.Keep) DeleteQuietly(root);
        }
    }

    /// <summary>TP 8 where the model's query groups allow it (the 35B-A3B has 2 KV heads), else the largest that splits them.</summary>
    internal static int LegacyTensorParallel(JsonObject config)
    {
        var text = config["text_config"] as JsonObject;
        long kvHeads = text?["num_key_value_heads"]?.GetValue<long>() ?? 1;
        long gdnHeads = text?["linear_num_key_heads"]?.GetValue<long>() ?? 1;
        int tp = 8;
        while (tp > 1 && (kvHeads % tp != 0 || gdnHeads % tp != 0)) tp /= 2;
        return tp;
    }

    /// <summary>Bytes of a legacy checkpoint: each expert once, everything else once per expert-parallel rank.</summary>
    internal static long LegacyBytes(IEnumerable<Tensors.TensorMeta> tensors, int expertParallel) =>
        tensors.Sum(t => t.Name.Contains(".mlp.experts.", StringComparison.Ordinal) ? t.ByteLength : t.ByteLength * expertParallel);

    private static long ConfigBytes(string folder) => new FileInfo(Path.Combine(folder, "config.json")).Length;

    private static long Needed(long bytes) => (long)(bytes * DiskMargin) + DiskSlackBytes;

    private static long FreeBytes(string path) => new DriveInfo(path).AvailableFreeSpace;

    private static void DeleteQuietly(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
