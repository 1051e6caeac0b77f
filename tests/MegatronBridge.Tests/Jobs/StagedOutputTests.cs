using MegatronBridge.Jobs;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

public class StagedOutputTests
{
    [Fact]
    public void StagingOfAKilledRunIsRemovedAndThatOfALiveRunKept()
    {
        using var tmp = TestPaths.NewTempDir();
        // A process id that cannot be running (beyond Linux's pid_max), and this live process, both of this machine.
        var id = Guid.NewGuid().ToString("N");
        var dead = Directory.CreateDirectory(tmp.Sub($".out.partial-{StagedOutput.HostTag}-2147483646-{id}")).FullName;
        var live = Directory.CreateDirectory(tmp.Sub($".out.partial-{StagedOutput.HostTag}-{Environment.ProcessId}-{id}")).FullName;
        var other = Directory.CreateDirectory(tmp.Sub($".other.partial-{StagedOutput.HostTag}-2147483646-{id}")).FullName;
        // Another node of a shared filesystem: its process ids mean nothing here, so its folder is never judged dead.
        var otherHost = Directory.CreateDirectory(tmp.Sub($".out.partial-{StagedOutput.HostTag}x-node-7-2147483646-{id}")).FullName;
        // A name without a host (an older version's) is not this machine's to judge either.
        var noHost = Directory.CreateDirectory(tmp.Sub($".out.partial-2147483646-{id}")).FullName;
        using (var staged = StagedOutput.Begin(tmp.Sub("out"), force: false, OutputKind.MegatronCheckpoint, Array.Empty<string>()))
        {
            File.WriteAllText(Path.Combine(staged.Staging, "x"), "1");
            staged.Commit();
        }
        Assert.False(Directory.Exists(dead));
        Assert.True(Directory.Exists(live));
        Assert.True(Directory.Exists(other));
        Assert.True(Directory.Exists(otherHost));
        Assert.True(Directory.Exists(noHost));
        Assert.Equal("1", File.ReadAllText(tmp.Sub("out/x")));
    }

    [Fact]
    public void DisposingWithoutCommitLeavesNothing()
    {
        using var tmp = TestPaths.NewTempDir();
        using (var staged = StagedOutput.Begin(tmp.Sub("out"), force: false, OutputKind.MegatronCheckpoint, Array.Empty<string>()))
        {
            File.WriteAllText(Path.Combine(staged.Staging, "x"), "1");
        }
        Assert.Empty(Directory.GetFileSystemEntries(tmp.Path));
    }
}
