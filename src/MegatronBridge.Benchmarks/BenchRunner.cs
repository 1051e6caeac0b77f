using System.Diagnostics;
using System.Runtime;
using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.IO;
using MegatronBridge.Jobs;

namespace MegatronBridge.Benchmarks;

internal sealed record BenchOptions(string WorkDir)
{
    public int Layers { get; init; } = 1;
    /// <summary>Keep the real config's MTP layer (a full MoE layer for the MoE presets); off to fit a smaller disk.</summary>
    public bool Mtp { get; init; } = true;
    public bool Legacy { get; init; } = true;
    /// <summary>How many times every phase runs, interleaved; times are medians (a noisy disk needs several).</summary>
    public int Rounds { get; init; } = 1;
    public bool Keep { get; init; }
    /// <summary>
    /// Seconds to wait before a phase, after the page cache is flushed and dropped, for every 10 GB of page cache the
    /// drop freed (and at least this long). A virtual machine that hands free memory back to its host (free page reporting,
    /// ballooning) writes several times faster into page-cache pages freed a moment ago than into pages the host has
    /// taken back, which the guest must fault in again; without the pause a phase's speed depends on how much memory the
    /// phase before it freed, and how recently, not on the phase.
    /// </summary>
    public double SettleSeconds { get; init; } = 15;
    /// <summary>
    /// Also time the FP8 release path (<c>bench --fp8</c>): <c>export --quantize fp8</c> of the torch_dist checkpoint, a
    /// raw copy of that FP8 folder, and the import of the FP8 folder back to torch_dist.
    /// </summary>
    public bool Fp8 { get; init; }
}

/// <summary>
/// One phase: bytes moved (source tensor bytes, or bytes written for the legacy import), median time over the rounds
/// (with the fastest and slowest), throughput, ratio to its raw-copy baseline, peak RssAnon over the rounds.
/// </summary>
internal sealed record BenchPhase(string Name, long Bytes, double Seconds, long PeakAnonBytes, string? Error)
{
    public double GigabytesPerSecond => Seconds > 0 ? Bytes / Seconds / 1e9 : 0;
    public double? RatioToRawCopy { get; init; }
    /// <summary>Why the phase was not run (not enough free disk, or switched off); null when it ran.</summary>
    public string? Skipped { get; init; }
    public bool Succeeded => Error is null && Skipped is null;
    /// <summary>Which raw copy the ratio divides by (null for the raw copies themselves).</summary>
    public string? Baseline { get; init; }
    /// <summary>How the phase ran differently from its name (e.g. export from a config-only --hf-model).</summary>
    public string? Note { get; init; }
    public int Rounds { get; init; } = 1;
    public double FastestSeconds { get; init; }
    public double SlowestSeconds { get; init; }
    /// <summary>
    /// Processor time of the whole process (user + kernel) during the phase, median over the rounds: unlike wall time it
    /// hardly depends on the disk's mood, so it shows how much work a conversion adds to a plain copy of its bytes.
    /// </summary>
    public double CpuSeconds { get; init; }
    public double CpuSecondsPerGigabyte => Bytes > 0 ? CpuSeconds / (Bytes / 1e9) : 0;
}

internal sealed record BenchResult(string Preset, int Layers, bool Mtp, long CheckpointBytes, double SynthesisSeconds, bool PageCacheDropped, IReadOnlyList<BenchPhase> Phases)
{
    /// <summary>Decoder layers of the real model (what the scaling projection extrapolates to).</summary>
    public int FullModelLayers { get; init; }
    /// <summary>The baseline most ratios divide by: the median of the raw copies of the source.</summary>
    public double RawCopyGigabytesPerSecond { get; init; }
    public int Rounds { get; init; } = 1;
}

/// <summary>
/// Synthesises a preset's checkpoint and times raw copy, import (torch_dist, legacy TP8/EP8) and export on it.
/// The phases run one after another and each output is deleted as soon as it is no longer needed, so the disk must
/// hold two copies of the checkpoint (source + one output); the legacy phase is skipped, and export reads a
/// config-only --hf-model, when the free space says they would not fit.
/// </summary>
internal static class BenchRunner
{
    public const string FirstCopyName = "raw copy (first)";
    public const string LastCopyName = "raw copy (last)";
    public const string LegacyCopyName = "raw copy of the legacy output";
    public const string ExportName = "export torch_dist -> HF";
    public const string Fp8ExportName = "export torch_dist -> HF FP8";
    public const string Fp8CopyName = "raw copy of the FP8 source";
    public const string Fp8ImportName = "import FP8 -> torch_dist";
    private const string ConfigOnlyNote = "config-only --hf-model (no room for a third copy: the source weights were deleted first)";
    private const double DiskMargin = 1.03;
    private const long DiskSlackBytes = 1L << 30;

    public static BenchResult Run(BenchPreset preset, BenchOptions options, Action<string>? log = null)
    {
        if (options.Rounds < 1) throw new InvalidInputException("--rounds must be at least 1");
        if (options.SettleSeconds is < 0 or > 600 || double.IsNaN(options.SettleSeconds)) throw new InvalidInputException("--settle must be between 0 and 600 seconds");
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
            bool moe = config["text_config"]?["num_experts"] is not null;
            int tp = LegacyTensorParallel(config);
            int ep = moe ? 8 : 1;
            string legacyName = $"import torch TP{tp}{(moe ? $" EP{ep}" : "")}";
            long legacyBytes = LegacyBytes(tensors, ep);
            string rawCopy = Path.Combine(root, "raw-copy");
            string legacy = Path.Combine(root, "torch-legacy");
            string dist = Path.Combine(root, "torch-dist");
            string export = Path.Combine(root, "hf-export");
            string configOnly = Path.Combine(root, "hf-config");

            bool dropped = true;
            double synthesisSeconds = 0;
            long cachedAtPhaseEnd = 0;
            var samples = new List<BenchPhase>();
            void Skip(string name, string why)
            {
                if (samples.Any(s => s.Name == name)) return;
                log?.Invoke($"{preset.Name}: {name} skipped: {why}");
                samples.Add(new BenchPhase(name, 0, 0, 0, null) { Skipped = why });
            }
            void EnsureSource()
            {
                if (Directory.Exists(hf)) return;
                log?.Invoke($"{preset.Name}: synthesising {options.Layers} layer(s){(options.Mtp ? "" : " without MTP")}, {checkpointBytes / 1e9:F1} GB, in {hf}");
                var synth = Stopwatch.StartNew();
                BenchSynthesizer.Write(config, hf);
                synthesisSeconds += synth.Elapsed.TotalSeconds;
            }
            BenchPhase Measure(string name, Func<long> action, string? note = null)
            {
                // Each phase starts from the same place: dirty pages on disk, page cache and managed heap emptied.
                // What the last phase left cached (and what folders deleted since then held) is freed now or was just freed.
                long cachedBefore = Math.Max(cachedAtPhaseEnd, PageCache.CachedBytes());
                dropped &= PageCache.SyncAndDrop();
                var settle = SettleTime(options.SettleSeconds, cachedBefore - PageCache.CachedBytes());
                if (settle > TimeSpan.Zero) Thread.Sleep(settle);
                GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                log?.Invoke($"{preset.Name}: {name}");
                using var sampler = MemorySampler.Start();
                var cpuBefore = Environment.CpuUsage.TotalTime;
                var clock = Stopwatch.StartNew();
                string? error = null;
                long moved = 0;
                try { moved = action(); }
                catch (Exception e) when (e is InvalidInputException or IOException)
                {
                    // A phase refused by validation or failed by the disk is recorded and the run goes on; a bug ends it.
                    error = e.Message;
                }
                // Data still in the page cache is not on disk yet: count the flush in the phase's time.
                PageCache.Sync();
                clock.Stop();
                var cpu = Environment.CpuUsage.TotalTime - cpuBefore;
                cachedAtPhaseEnd = PageCache.CachedBytes();
                sampler.Dispose();
                var phase = new BenchPhase(name, moved, clock.Elapsed.TotalSeconds, sampler.PeakBytes, error) { Note = note, CpuSeconds = cpu.TotalSeconds };
                samples.Add(phase);
                return phase;
            }

            // The FP8 release path: its import reads the FP8 folder (about half the bf16 bytes) and writes bf16, so it and
            // its baseline (a raw copy of the FP8 folder) count the bytes read plus the bytes written.
            void Fp8Phases()
            {
                if (!Directory.Exists(hf) || !Directory.Exists(dist)) { Skip(Fp8ImportName, "the source was deleted for a config-only export"); return; }
                if (FreeBytes(root) < Needed(checkpointBytes / 2 + checkpointBytes)) { Skip(Fp8ImportName, "no room for the FP8 folder and a second torch_dist checkpoint"); return; }
                string fp8 = Path.Combine(root, "hf-fp8");
                Measure(Fp8ExportName, () => CheckpointConverter.Export(new ExportRequest(hf, dist, fp8) { Quantize = ExportQuantization.Fp8 }).Bytes);
                DeleteQuietly(dist);
                long fp8Bytes = Directory.GetFiles(fp8).Sum(f => new FileInfo(f).Length) - ConfigBytes(fp8);
                Measure(Fp8CopyName, () => 2 * (RawCopy.CopyFolder(fp8, rawCopy) - ConfigBytes(fp8)));
                DeleteQuietly(rawCopy);
                Measure(Fp8ImportName, () => fp8Bytes + CheckpointConverter.Import(new ImportRequest(fp8, dist)).Bytes);
                DeleteQuietly(fp8);
            }

            for (int round = 1; round <= options.Rounds; round++)
            {
                EnsureSource();
                if (options.Rounds > 1) log?.Invoke($"{preset.Name}: round {round} of {options.Rounds}");

                // The disk's speed drifts (host-side caching of a virtual disk, other tenants): the source is raw-copied
                // first and last in every round, and conversions are compared with the median of those copies.
                Measure(FirstCopyName, () => RawCopy.CopyFolder(hf, rawCopy) - ConfigBytes(hf));
                DeleteQuietly(rawCopy);

                Measure("import torch_dist", () => CheckpointConverter.Import(new ImportRequest(hf, dist)).Bytes);

                // HF and Megatron forwards side by side over the checkpoint just written: the bytes are the weights
                // both read (one layer at a time, embedding rows, output layer, routed experts only).
                string? compareNote = null;
                var compared = Measure(BenchCompare.PhaseName, () =>
                {
                    var (bytes, summary) = BenchCompare.Run(hf, dist);
                    compareNote = summary;
                    return bytes;
                });
                samples[^1] = compared with { Note = compareNote };

                if (FreeBytes(root) >= Needed(checkpointBytes))
                    Measure(ExportName, () => CheckpointConverter.Export(new ExportRequest(hf, dist, export)).Bytes);
                else
                {
                    // No room for a third copy: export the way a user without the original weights does, from config.json alone.
                    Directory.CreateDirectory(configOnly);
                    File.Copy(Path.Combine(hf, "config.json"), Path.Combine(configOnly, "config.json"), overwrite: true);
                    DeleteQuietly(hf);
                    log?.Invoke($"{preset.Name}: no room for a third copy; the source weights are deleted and export reads a config-only --hf-model");
                    Measure(ExportName, () => CheckpointConverter.Export(new ExportRequest(configOnly, dist, export)).Bytes, ConfigOnlyNote);
                }
                DeleteQuietly(export);
                if (options.Fp8) Fp8Phases();

                // In config-only mode the source is gone; the torch_dist checkpoint holds the same tensor bytes.
                bool sourceKept = Directory.Exists(hf);
                Measure(LastCopyName, () => sourceKept ? RawCopy.CopyFolder(hf, rawCopy) - ConfigBytes(hf) : RawCopy.CopyFolder(dist, rawCopy),
                    sourceKept ? null : "of the torch_dist checkpoint (the source was deleted for the export)");
                DeleteQuietly(rawCopy);
                DeleteQuietly(dist);

                // Last in the round: it writes and deletes several checkpoints' worth, which leaves the machine in another
                // state; its baseline is the raw copy of its own output, timed right after it.
                // A source deleted for a config-only export is synthesised again, so it needs room too.
                long sourceAgain = Directory.Exists(hf) ? 0 : checkpointBytes;
                if (!options.Legacy) Skip(legacyName, "--no-legacy");
                else if (FreeBytes(root) < Needed(legacyBytes + sourceAgain))
                    Skip(legacyName, $"its {legacyBytes / 1e9:F1} GB (every non-expert tensor on each of the {ep} expert ranks) do not fit the {FreeBytes(root) / 1e9:F1} GB free" +
                        (sourceAgain > 0 ? $" with the {sourceAgain / 1e9:F1} GB source synthesised again" : ""));
                else
                {
                    EnsureSource();
                    var layout = new ParallelLayout(tp: tp, ep: ep);
                    var imported = Measure(legacyName, () => CheckpointConverter.Import(new ImportRequest(hf, legacy) { Format = MegatronFormat.Torch, Layout = layout }).Bytes);
                    // The legacy output is several times the source (replicas): its fair baseline is a raw copy of those
                    // same bytes, since a long write runs slower than a short one on disks with a write cache.
                    if (imported.Succeeded && FreeBytes(root) >= Needed(imported.Bytes))
                        Measure(LegacyCopyName, () => RawCopy.CopyFolder(legacy, rawCopy));
                    DeleteQuietly(rawCopy);
                    DeleteQuietly(legacy);
                }
            }

            var phases = Summarise(samples, legacyName);
            int fullLayers = (full["text_config"]?["num_hidden_layers"]?.GetValue<int>()) ?? options.Layers;
            return new BenchResult(preset.Name, options.Layers, options.Mtp, checkpointBytes, synthesisSeconds, dropped, phases)
            {
                FullModelLayers = fullLayers,
                RawCopyGigabytesPerSecond = SourceCopyRate(samples),
                Rounds = options.Rounds,
            };
        }
        finally
        {
            if (!options.Keep) DeleteQuietly(root);
        }
    }

    /// <summary>The median throughput of the raw copies of the source (first and last of every round).</summary>
    private static double SourceCopyRate(IEnumerable<BenchPhase> samples) =>
        Median(samples.Where(p => p.Name is FirstCopyName or LastCopyName && p.Succeeded).Select(p => p.GigabytesPerSecond).ToList());

    /// <summary>One row per phase name, in first-run order: median time, fastest and slowest, peak memory, ratio.</summary>
    internal static List<BenchPhase> Summarise(IReadOnlyList<BenchPhase> samples, string legacyName)
    {
        double sourceRate = SourceCopyRate(samples);
        var rows = new List<BenchPhase>();
        foreach (var group in samples.GroupBy(p => p.Name))
        {
            var runs = group.ToList();
            var failed = runs.FirstOrDefault(p => p.Error is not null);
            var skipped = runs.FirstOrDefault(p => p.Skipped is not null);
            if (failed is not null || skipped is not null)
            {
                rows.Add((failed ?? skipped)! with { Rounds = runs.Count });
                continue;
            }
            var seconds = runs.Select(p => p.Seconds).ToList();
            rows.Add(runs[0] with
            {
                Seconds = Median(seconds),
                FastestSeconds = seconds.Min(),
                SlowestSeconds = seconds.Max(),
                PeakAnonBytes = runs.Max(p => p.PeakAnonBytes),
                CpuSeconds = Median(runs.Select(p => p.CpuSeconds).ToList()),
                Rounds = runs.Count,
            });
        }
        var legacyCopy = rows.FirstOrDefault(p => p.Name == LegacyCopyName && p.Succeeded);
        var fp8Copy = rows.FirstOrDefault(p => p.Name == Fp8CopyName && p.Succeeded);
        return rows.Select(p =>
        {
            bool isCopy = p.Name.StartsWith("raw copy", StringComparison.Ordinal);
            bool ownBaseline = p.Name == legacyName && legacyCopy is not null;
            bool fp8Baseline = p.Name == Fp8ImportName && fp8Copy is not null;
            double baseline = ownBaseline ? legacyCopy!.GigabytesPerSecond : fp8Baseline ? fp8Copy!.GigabytesPerSecond : sourceRate;
            return p with
            {
                RatioToRawCopy = baseline > 0 && p.Succeeded ? p.GigabytesPerSecond / baseline : null,
                Baseline = isCopy ? null : ownBaseline ? LegacyCopyName : fp8Baseline ? Fp8CopyName : "median raw copy of the source",
            };
        }).ToList();
    }

    private static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToList();
        int mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
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

    /// <summary>The pause before a phase: <paramref name="settleSeconds"/> per 10 GB of page cache freed since the previous phase, at least once.</summary>
    internal static TimeSpan SettleTime(double settleSeconds, long freedBytes) =>
        TimeSpan.FromSeconds(settleSeconds * Math.Max(1.0, freedBytes / 10e9));

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
