using MegatronBridge.Conversion.Checkpoints;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Conversion.Checkpoints;

public class StagedOutputTests
{
    [Fact]
    public void StagingOfAKilledRunIsRemovedAndThatOfALiveRunKept()
    {
        using var tmp = TestPaths.NewTempDir();
        // A process id that cannot be running (beyond Linux's pid_max), and this live process.
        var dead = Directory.CreateDirectory(tmp.Sub(".out.partial-2147483646-abc")).FullName;
        var live = Directory.CreateDirectory(tmp.Sub($".out.partial-{Environment.ProcessId}-def")).FullName;
        var other = Directory.CreateDirectory(tmp.Sub(".other.partial-2147483646-abc")).FullName;
        using (var staged = StagedOutput.Begin(tmp.Sub("out"), force: false))
        {
            File.WriteAllText(Path.Combine(staged.Staging, "x"), "1");
            staged.Commit();
        }
        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(live));
        Assert.True(Directory.Exists(other));
        Assert.Equal("1", File.ReadAllText(tmp.Sub("out/x")));
    }

    [Fact]
    public void DisposingWithoutCommitLeavesNothing()
    {
        using var tmp = TestPaths.NewTempDir();
        using (var staged = StagedOutput.Begin(tmp.Sub("out"), force: false))
        {
            File.WriteAllText(Path.Combine(staged.Staging, "x"), "1");
        }
        Assert.Empty(Directory.GetFileSystemEntries(tmp.Path));
    }
}
