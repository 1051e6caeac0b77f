using System.Diagnostics;
using Xunit;
using static MegatronBridge.Tests.Cli.CliRunner;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// A FIFO (or a folder, or a dangling symlink) where a file is expected is refused, named, before anything opens it:
/// opening a FIFO for reading would block forever.
/// </summary>
public class NonRegularInputTests
{
    private static void MakeFifo(string path)
    {
        using var p = Process.Start("mkfifo", new[] { path });
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public async Task AFifoAsTheShardIsRefusedByImportAndInspect()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var work = new DamagedCheckpoint();
        File.Delete(work.Safetensors);
        MakeFifo(work.Safetensors);
        var before = TreeSnapshot.Take(work.Input);
        foreach (var args in new[]
        {
            new[] { "import", "--hf-model", work.Input, "--megatron-path", work.Output },
            new[] { "inspect", work.Input },
        })
        {
            var run = Task.Run(() => Run(args));
            Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))) == run, $"{args[0]} hung on a FIFO");
            var (code, _, error) = await run;
            Assert.Equal(1, code);
            Assert.Contains($"{work.Safetensors}: is not a regular file but a named pipe (FIFO)", error);
        }
        Assert.Empty(work.Leftovers());
        before.AssertUnchanged();
    }

    [Fact]
    public async Task AFifoAsConfigIsRefused()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var work = new DamagedCheckpoint();
        File.Delete(work.Config);
        MakeFifo(work.Config);
        var run = Task.Run(() => Run("import", "--hf-model", work.Input, "--megatron-path", work.Output));
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))) == run, "import hung on a FIFO config.json");
        var (code, _, error) = await run;
        Assert.Equal(1, code);
        Assert.Contains($"{work.Config}: is not a regular file", error);
        Assert.Empty(work.Leftovers());
    }

    [Fact]
    public void ASymlinkToARegularFileIsAccepted()
    {
        using var work = new DamagedCheckpoint();
        var real = Path.Combine(work.Root, "blob");
        File.Move(work.Safetensors, real);
        File.CreateSymbolicLink(work.Safetensors, real);
        var r = work.Import();
        Assert.True(r.ExitCode == 0, r.Error);
    }
}
