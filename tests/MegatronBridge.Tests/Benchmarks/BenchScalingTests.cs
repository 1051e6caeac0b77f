using MegatronBridge.Benchmarks;
using Xunit;

namespace MegatronBridge.Tests.Benchmarks;

public class BenchScalingTests
{
    private static BenchResult Run(int layers, params BenchPhase[] phases) =>
        new("35b-a3b", layers, Mtp: true, CheckpointBytes: 0, SynthesisSeconds: 0, PageCacheDropped: true, phases) { FullModelLayers = 40 };

    [Fact]
    public void TimeThatGrowsWithTheBytes_IsLinear_AndProjectsTheFullModel()
    {
        // 1 layer: 5 GB in 10 s; 2 layers: 7 GB in 14 s -> 4 s per layer, time grew exactly as the bytes did.
        var one = Run(1, new BenchPhase("import torch_dist", 5_000_000_000, 10, 100 << 20, null));
        var two = Run(2, new BenchPhase("import torch_dist", 7_000_000_000, 14, 110 << 20, null));
        var row = Assert.Single(BenchScaling.Compare(one, two));
        Assert.Equal(1.4, row.BytesRatio, 12);
        Assert.Equal(1.4, row.TimeRatio, 12);
        Assert.Equal(0, row.TimePerByteChange, 12);
        Assert.Equal(4, row.SecondsPerLayer, 12);
        Assert.Equal(10 + 39 * 4, row.ProjectedFullModelSeconds, 9);
        Assert.Equal((100L << 20, 110L << 20), (row.FromPeakAnonBytes, row.ToPeakAnonBytes));
    }

    [Fact]
    public void SkippedOrFailedPhases_AreLeftOut_AndSeriesPairsNeighbours()
    {
        var skipped = new BenchPhase("import torch TP2 EP8", 0, 0, 0, null) { Skipped = "--no-legacy" };
        var failed = new BenchPhase("export torch_dist -> HF", 0, 1, 0, "boom");
        var ok = (long bytes, double s) => new BenchPhase("import torch_dist", bytes, s, 0, null);
        var runs = new[] { Run(4, ok(8, 8), skipped), Run(1, ok(2, 2), failed), Run(2, ok(4, 5)) };
        var rows = BenchScaling.Series(runs);
        Assert.Equal(new[] { (1, 2), (2, 4) }, rows.Select(r => (r.FromLayers, r.ToLayers)));
        Assert.All(rows, r => Assert.Equal("import torch_dist", r.Phase));
        Assert.Equal(2.5 / 2 - 1, rows[0].TimePerByteChange, 12);
    }

    [Fact]
    public void ComparingRunsOfDifferentPresets_IsRefused()
    {
        var a = Run(1);
        var b = Run(2) with { Preset = "27b" };
        Assert.Throws<ArgumentException>(() => BenchScaling.Compare(a, b));
        Assert.Throws<ArgumentException>(() => BenchScaling.Compare(Run(2), Run(1)));
    }

    [Fact]
    public void CutLayersWithoutMtp_LeavesOutOnlyTheMtpTensors()
    {
        var config = BenchPreset.CutLayers(BenchPreset.Find("35b-a3b").LoadConfig(), 1);
        var withMtp = BenchTensorList.FromConfig(config);
        ((System.Text.Json.Nodes.JsonObject)config["text_config"]!)["mtp_num_hidden_layers"] = 0L;
        var without = BenchTensorList.FromConfig(config);
        Assert.Equal(withMtp.Where(t => !t.Name.StartsWith("mtp.", StringComparison.Ordinal)).Select(t => t.Name), without.Select(t => t.Name));
        Assert.Contains(withMtp, t => t.Name.StartsWith("mtp.layers.0.mlp.experts", StringComparison.Ordinal));
    }
}

public class BenchSummaryTests
{
    [Fact]
    public void Rounds_AreSummarisedAsMedians_AndEachPhaseGetsItsBaseline()
    {
        const string legacy = "import torch TP2 EP8";
        var samples = new List<BenchPhase>
        {
            new(BenchRunner.FirstCopyName, 10_000_000_000, 10, 1, null),  // 1.0 GB/s
            new(legacy, 40_000_000_000, 50, 5, null),
            new(BenchRunner.LegacyCopyName, 40_000_000_000, 40, 2, null), // 1.0 GB/s
            new("import torch_dist", 10_000_000_000, 12, 7, null) { CpuSeconds = 30 },
            new(BenchRunner.LastCopyName, 10_000_000_000, 20, 1, null),   // 0.5 GB/s
            new(BenchRunner.FirstCopyName, 10_000_000_000, 12.5, 1, null), // 0.8 GB/s
            new(legacy, 40_000_000_000, 70, 9, null),
            new(BenchRunner.LegacyCopyName, 40_000_000_000, 40, 2, null),
            new("import torch_dist", 10_000_000_000, 14, 6, null) { CpuSeconds = 20 },
            new(BenchRunner.LastCopyName, 10_000_000_000, 10, 1, null),   // 1.0 GB/s
        };
        var rows = BenchRunner.Summarise(samples, legacy).ToDictionary(r => r.Name);
        var dist = rows["import torch_dist"];
        Assert.Equal((13.0, 12.0, 14.0, 2), (dist.Seconds, dist.FastestSeconds, dist.SlowestSeconds, dist.Rounds));
        Assert.Equal(7, dist.PeakAnonBytes);
        // Processor time is a median like wall time: 25 s for 10 GB.
        Assert.Equal((25.0, 2.5), (dist.CpuSeconds, dist.CpuSecondsPerGigabyte));
        // Source copies 1.0, 0.5, 0.8, 1.0 GB/s: median 0.9; torch_dist moved 10 GB in 13 s.
        Assert.Equal(10.0 / 13 / 0.9, dist.RatioToRawCopy!.Value, 9);
        // The legacy import (60 s median) is compared with the copy of its own output (1.0 GB/s).
        Assert.Equal(40.0 / 60 / 1.0, rows[legacy].RatioToRawCopy!.Value, 9);
        Assert.Equal(BenchRunner.LegacyCopyName, rows[legacy].Baseline);
        Assert.Null(rows[BenchRunner.FirstCopyName].Baseline);
    }
}
