using System.Diagnostics;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// A conversion killed mid-write (the real CLI as a child process) or failing mid-write (a simulated full disk) leaves
/// nothing at the output path that looks finished, and a rerun completes. The child is slowed with the CLI's hidden
/// <c>--write-step-delay-ms</c> option so the tiny fixture is still being written when it is killed.
/// </summary>
public class InterruptionTests
{
    private const int WriteDelayMs = 3;

    private static string CliDll => typeof(MegatronBridge.Cli.Program).Assembly.Location;

    /// <summary>Starts the CLI, waits for its hidden staging folder, lets it write a little, and kills it.</summary>
    private static void StartAndKillMidWrite(string root, string outputName, Random random, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(CliDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.ArgumentList.Add("--write-step-delay-ms");
        start.ArgumentList.Add(WriteDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var process = Process.Start(start)!;
        try
        {
            var clock = Stopwatch.StartNew();
            while (!Directory.EnumerateDirectories(root).Any(d => Path.GetFileName(d).StartsWith($".{outputName}.partial-", StringComparison.Ordinal)))
            {
                if (process.HasExited)
                    Assert.Fail($"the CLI exited ({process.ExitCode}) before staging: {process.StandardError.ReadToEnd()}");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "no staging folder within 60 s");
                Thread.Sleep(2);
            }
            Thread.Sleep(random.Next(0, 60));
            Assert.False(process.HasExited, "the slowed conversion finished before it could be killed");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    private static void AssertNothingLooksFinished(string root, string output)
    {
        Assert.False(Directory.Exists(output), $"{output} exists after the conversion was killed");
        // A killed run may leave its hidden staging folder, but nothing outside it.
        foreach (var entry in Directory.EnumerateFileSystemEntries(root))
        {
            var name = Path.GetFileName(entry);
            Assert.True(name is "in" or "mg" || name.Contains(".partial-"), $"unexpected {name} after the kill");
        }
    }

    [Fact]
    public void KilledImportLeavesNothingFinishedAndARerunCompletes()
    {
        using var work = new DamagedCheckpoint();
        var random = new Random(7);
        for (int round = 0; round < 10; round++)
        {
            StartAndKillMidWrite(work.Root, "out", random, "import", "--hf-model", work.Input, "--megatron-path", work.Output);
            AssertNothingLooksFinished(work.Root, work.Output);
            Assert.False(File.Exists(Path.Combine(work.Output, MegatronCheckpointFolder.TrackerFileName)));

            var rerun = work.Import();
            Assert.True(rerun.ExitCode == 0, rerun.Error);
            if (round == 9) Assert.True(CheckpointVerifier.Verify(work.Input, work.Output).Matches);
            Directory.Delete(work.Output, recursive: true);
        }
    }

    [Fact]
    public void KilledExportLeavesNothingFinishedAndARerunCompletes()
    {
        using var work = new DamagedCheckpoint();
        var megatron = Path.Combine(work.Root, "mg");
        var hf = Path.Combine(work.Root, "hf");
        Assert.Equal(0, Cli.CliRunner.Run("import", "--hf-model", work.Input, "--megatron-path", megatron).ExitCode);
        var random = new Random(11);
        for (int round = 0; round < 3; round++)
        {
            StartAndKillMidWrite(work.Root, "hf", random, "export", "--hf-model", work.Input, "--megatron-path", megatron, "--hf-path", hf);
            AssertNothingLooksFinished(work.Root, hf);
        }
        var rerun = Cli.CliRunner.Run("export", "--hf-model", work.Input, "--megatron-path", megatron, "--hf-path", hf);
        Assert.True(rerun.ExitCode == 0, rerun.Error);
        // The rerun after the kills writes exactly what an undisturbed export writes.
        var clean = Path.Combine(work.Root, "hf-clean");
        Assert.Equal(0, Cli.CliRunner.Run("export", "--hf-model", work.Input, "--megatron-path", megatron, "--hf-path", clean).ExitCode);
        foreach (var file in Directory.EnumerateFiles(clean))
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(hf, Path.GetFileName(file))));
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(100_000L)]
    [InlineData(1_000_000L)]
    public void DiskFullDuringImportIsACleanErrorWithNoStagingLeft(long failAfterBytes)
    {
        using var work = new DamagedCheckpoint();
        var request = new ImportRequest(work.Input, work.Output);
        var e = Assert.Throws<IOException>(() => CheckpointConverter.Import(request, (done, _) =>
        {
            if (done > failAfterBytes) throw new IOException("No space left on device");
        }));
        Assert.Contains("No space left", e.Message);
        Assert.Empty(work.Leftovers());
    }

    [Fact]
    public void DiskFullDuringExportIsACleanErrorWithNoStagingLeft()
    {
        using var work = new DamagedCheckpoint();
        var megatron = Path.Combine(work.Root, "mg");
        CheckpointConverter.Import(new ImportRequest(work.Input, megatron));
        var hf = Path.Combine(work.Root, "hf");
        Assert.Throws<IOException>(() => CheckpointConverter.Export(new ExportRequest(work.Input, megatron, hf), (done, _) =>
        {
            if (done > 200_000) throw new IOException("No space left on device");
        }));
        Assert.Equal(new[] { "mg" }, work.Leftovers());
    }

    [Fact]
    public void DiskFullWhileReplacingWithForceKeepsTheOldCheckpoint()
    {
        using var work = new DamagedCheckpoint();
        CheckpointConverter.Import(new ImportRequest(work.Input, work.Output));
        var tracker = Path.Combine(work.Output, MegatronCheckpointFolder.TrackerFileName);
        var before = Directory.EnumerateFiles(work.Output, "*", SearchOption.AllDirectories).Select(File.ReadAllBytes).ToList();
        Assert.Throws<IOException>(() => CheckpointConverter.Import(new ImportRequest(work.Input, work.Output) { Force = true }, (done, _) =>
        {
            if (done > 300_000) throw new IOException("No space left on device");
        }));
        Assert.True(File.Exists(tracker));
        Assert.Equal(before, Directory.EnumerateFiles(work.Output, "*", SearchOption.AllDirectories).Select(File.ReadAllBytes).ToList());
        Assert.Empty(work.Leftovers("out"));
    }
}
