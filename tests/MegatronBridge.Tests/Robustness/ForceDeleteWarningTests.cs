using System.Diagnostics;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// With --force the old output goes only after the new one is in place, and failing to delete it is a warning, not a
/// failed run. An immutable file (chattr +i, which even root cannot delete) makes the deletion fail.
/// </summary>
public class ForceDeleteWarningTests
{
    private static bool Chattr(string flag, string path)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("chattr", new[] { flag, path }) { RedirectStandardError = true, UseShellExecute = false })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    [Fact]
    public void AnOldOutputThatCannotBeDeletedIsAWarningWithTheNewOutputInPlace()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var work = new DamagedCheckpoint();
        Assert.Equal(0, work.Import().ExitCode);
        var pinned = Path.Combine(work.Output, "pinned.txt");
        File.WriteAllText(pinned, "cannot be deleted");
        if (!Chattr("+i", pinned)) return; // no chattr or a filesystem without immutable files
        string? aside = null;
        try
        {
            var r = work.Import("--force");
            Assert.True(r.ExitCode == 0, r.Error);
            Assert.Contains("import: warning: ", r.Error);
            Assert.Contains("could not be deleted", r.Error);
            Assert.False(File.Exists(Path.Combine(work.Output, "pinned.txt")));
            Assert.True(File.Exists(Path.Combine(work.Output, MegatronCheckpointFolder.TrackerFileName)));
            Assert.True(CheckpointVerifier.Verify(work.Input, work.Output).Matches);
            aside = Assert.Single(Directory.GetDirectories(work.Root, ".out.old-*"));
            Assert.Contains(aside, r.Error);
            Assert.Equal("cannot be deleted", File.ReadAllText(Path.Combine(aside, "pinned.txt")));
        }
        finally
        {
            Chattr("-i", aside != null ? Path.Combine(aside, "pinned.txt") : pinned);
        }
    }
}
