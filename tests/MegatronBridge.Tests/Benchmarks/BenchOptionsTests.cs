using Xunit;
using MegatronBridge.Benchmarks;

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
        var error = Assert.Throws<ArgumentException>(() => BenchRunner.Run(BenchPreset.Find("35b-a3b"), options));
        Assert.Equal(message, error.Message);
        Assert.False(Directory.Exists(work));
    }

    [Theory]
    [InlineData(10, 0, 10)]                 // nothing deleted: the minimum pause
    [InlineData(10, 5_000_000_000, 10)]     // under 10 GB: still the minimum
    [InlineData(10, 43_000_000_000, 43)]    // 43 GB freed: 10 s per 10 GB
    [InlineData(0, 43_000_000_000, 0)]      // --settle 0 switches it off
    public void SettleTime_GrowsWithTheBytesFreedSinceThePreviousPhase(double settle, long freed, double expectedSeconds) =>
        Assert.Equal(expectedSeconds, BenchRunner.SettleTime(settle, freed).TotalSeconds, 6);
}
