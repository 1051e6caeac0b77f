using System.Diagnostics;
using MegatronBridge.Jobs;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// SIGINT / SIGTERM (Ctrl-C, a batch scheduler's kill) remove the partial output and say so in one line; the real CLI
/// runs as a child process, slowed with the hidden <c>--write-step-delay-ms</c> option so it is still writing.
/// </summary>
public class SignalTests
{
    private static string CliDll => typeof(MegatronBridge.Cli.Program).Assembly.Location;

    [Theory]
    [InlineData("TERM", "SIGTERM")]
    [InlineData("INT", "SIGINT")]
    public async Task ASignalMidImportRemovesThePartialOutputAndSaysSo(string signal, string name)
    {
        if (!OperatingSystem.IsLinux()) return;
        using var work = new DamagedCheckpoint();
        var before = TreeSnapshot.Take(work.Root);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { CliDll, "import", "--hf-model", work.Input, "--megatron-path", work.Output, "--write-step-delay-ms", "5" }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            while (!Directory.EnumerateDirectories(work.Root).Any(d => Path.GetFileName(d).StartsWith(".out.partial-", StringComparison.Ordinal)))
            {
                Assert.False(process.HasExited, "the CLI exited before staging");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "no staging folder within 60 s");
                Thread.Sleep(2);
            }
            Thread.Sleep(50);
            Assert.False(process.HasExited, "the slowed conversion finished before the signal");
            using (var kill = Process.Start("kill", new[] { "-" + signal, process.Id.ToString() })) kill.WaitForExit();
            Assert.True(process.WaitForExit(30_000), "the CLI did not end after the signal");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        var error = await stderr;
        Assert.NotEqual(0, process.ExitCode);
        Assert.Contains($"interrupted ({name}); removed the partial output for {work.Output}", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Empty(work.Leftovers());
        before.AssertUnchanged();
    }
}
