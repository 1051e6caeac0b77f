using MegatronBridge.Cli.Commands;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>Progress lines for a log (stderr not a terminal): one per interval, with percent, bytes, rate and ETA.</summary>
public class PlainProgressTests
{
    private sealed class ManualTime : TimeProvider
    {
        public long Ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(TimeSpan t) => Ticks += t.Ticks;
    }

    [Fact]
    public void OneLinePerIntervalWithPercentBytesRateAndEta()
    {
        var time = new ManualTime();
        var log = new StringWriter();
        var progress = new PlainProgress(log, "import", TimeSpan.FromSeconds(10), time);
        time.Advance(TimeSpan.FromSeconds(4));
        progress.Report(100L << 20, 1000L << 20);
        Assert.Equal("", log.ToString()); // less than one interval since the start

        time.Advance(TimeSpan.FromSeconds(6));
        progress.Report(250L << 20, 1000L << 20);
        time.Advance(TimeSpan.FromSeconds(1));
        progress.Report(260L << 20, 1000L << 20); // within the interval of the last line: silent
        var lines = log.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        // 250 MiB in 10 s: 25 MiB/s; 750 MiB left: 30 s.
        Assert.Equal(new[] { "import: 25.0% 250.0 MiB of 1000.0 MiB, 25.0 MiB/s, ETA 0:30" }, lines);
    }

    [Fact]
    public void QuietImportPrintsNoProgressAndNoOtherStderr()
    {
        using var tmp = Support.TestPaths.NewTempDir();
        var r = CliRunner.Run("import", "--hf-model", Support.TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "--megatron-path", tmp.Sub("mg"), "--quiet");
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.Equal("", r.Error);
    }
}
