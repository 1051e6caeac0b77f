using Xunit;
using MegatronBridge.Benchmarks;
using MegatronBridge.IO;

namespace MegatronBridge.Tests.Benchmarks;

public class BenchOptionsTests
{
    [Theory]
    [InlineData(0, 10, "--rounds must be at least 1")]
    [InlineData(1, -1, "--settle must be between 0 and 600 seconds")]
    [InlineData(1, 601, "--settle must be between 0 and 600 seconds")]
    [InlineData(1, double.NaN, "--settle must be between 0 and 600 seconds")]
    public void BadOptions_AreRefusedBeforeAnythingIsWritten(int rounds, double settle, string message)
    {
        string work = Path.Combine(Path.GetTempPath(), "bench-options-" + Guid.NewGuid().ToString("N"));
        var options = new BenchOptions(work) { Rounds = rounds, SettleSeconds = settle };
        var error = Assert.Throws<InvalidInputException>(() => BenchRunner.Run(BenchPreset.Find("35b-a3b"), options));
        Assert.Equal(message, error.Message);
        Assert.False(Directory.Exists(work));
    }

    [Theory]
    [InlineData(15, 0, 15)]                 // nothing freed: the minimum pause
    [InlineData(15, -2_000_000_000, 15)]    // the cache grew meanwhile (a source was synthesised): the minimum
    [InlineData(15, 5_000_000_000, 15)]     // under 10 GB: still the minimum
    [InlineData(15, 13_600_000_000, 20.4)]  // a 6.8 GB copy's source and output pages: 15 s per 10 GB
    [InlineData(0, 43_000_000_000, 0)]      // --settle 0 switches it off
    public void SettleTime_GrowsWithThePageCacheFreedSinceThePreviousPhase(double settle, long freed, double expectedSeconds) =>
        Assert.Equal(expectedSeconds, BenchRunner.SettleTime(settle, freed).TotalSeconds, 6);

    [Fact]
    public void CachedBytes_ComeFromTheCachedLineOfMeminfo_NotSwapCached()
    {
        const string meminfo = "MemTotal:       24576000 kB\nMemFree:        10000000 kB\nBuffers:            2048 kB\n"
            + "Cached:         13122668 kB\nSwapCached:            7 kB\nActive:          1000000 kB\n";
        Assert.Equal(13122668L * 1024, PageCache.ParseCachedBytes(meminfo));
        Assert.Equal(0, PageCache.ParseCachedBytes("MemTotal: 1 kB\nSwapCached: 5 kB\n"));
        Assert.Equal(0, PageCache.ParseCachedBytes("Cached: lots kB\n"));
    }
}

public class BenchFp8SummaryTests
{
    [Fact]
    public void Fp8Import_IsComparedWithTheRawCopyOfTheFp8Folder()
    {
        // Source copies: 10 GB in 10 s (1 GB/s). FP8 copy: 2 x 2.5 GB read + written in 10 s (0.5 GB/s). FP8 import:
        // 2.5 GB read + 5 GB written in 10 s (0.75 GB/s): 1.5x its own baseline, not 0.75x the source copy.
        var samples = new List<BenchPhase>
        {
            new(BenchRunner.FirstCopyName, 10_000_000_000, 10, 0, null),
            new("import torch_dist", 10_000_000_000, 20, 0, null),
            new(BenchRunner.Fp8CopyName, 5_000_000_000, 10, 0, null),
            new(BenchRunner.Fp8ImportName, 7_500_000_000, 10, 0, null),
            new(BenchRunner.LastCopyName, 10_000_000_000, 10, 0, null),
        };
        var rows = BenchRunner.Summarise(samples, "import torch TP2 EP8");
        var import = rows.Single(r => r.Name == BenchRunner.Fp8ImportName);
        Assert.Equal(1.5, import.RatioToRawCopy!.Value, 6);
        Assert.Equal(BenchRunner.Fp8CopyName, import.Baseline);
        Assert.Equal(0.5, rows.Single(r => r.Name == "import torch_dist").RatioToRawCopy!.Value, 6);
    }
}
