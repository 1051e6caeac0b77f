using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// What appears at the output path while a run is writing is never replaced: the final move is a no-replace rename.
/// The progress callback, which runs on the last write before the move, creates it deterministically.
/// </summary>
public class CheckThenActTests
{
    /// <summary>Runs <paramref name="act"/> once, when the conversion reports its last byte (before the move into place).</summary>
    private static Action<long, long> AtLastByte(Action act)
    {
        int done = 0;
        return (written, total) =>
        {
            if (written >= total && Interlocked.Exchange(ref done, 1) == 0) act();
        };
    }

    [Fact]
    public void AFolderCreatedAtTheOutputMidRunIsLeftAloneAndTheRunFails()
    {
        using var work = new DamagedCheckpoint();
        var inputs = TreeSnapshot.Take(work.Input);
        var e = Assert.Throws<IOException>(() => CheckpointConverter.Import(new ImportRequest(work.Input, work.Output), AtLastByte(() =>
        {
            Directory.CreateDirectory(work.Output);
            File.WriteAllText(Path.Combine(work.Output, "made-meanwhile.txt"), "keep me");
        })));
        Assert.Contains(work.Output, e.Message);
        Assert.Contains("created there while this run was writing", e.Message);
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(work.Output, "made-meanwhile.txt")));
        Assert.Single(Directory.EnumerateFileSystemEntries(work.Output));
        Assert.Equal(new[] { "out" }, work.Leftovers());
        inputs.AssertUnchanged();
    }

    [Fact]
    public void AnEmptyFolderCreatedMidRunIsNotReplacedEither()
    {
        using var work = new DamagedCheckpoint();
        var e = Assert.Throws<IOException>(() => CheckpointConverter.Import(new ImportRequest(work.Input, work.Output),
            AtLastByte(() => Directory.CreateDirectory(work.Output))));
        Assert.Contains(work.Output, e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(work.Output));
    }

    [Fact]
    public void OfTwoImportsToOnePathExactlyOneSucceeds()
    {
        using var work = new DamagedCheckpoint();
        ImportResult? second = null;
        // The second import runs to completion while the first is about to move its output into place.
        var e = Assert.Throws<IOException>(() => CheckpointConverter.Import(new ImportRequest(work.Input, work.Output),
            AtLastByte(() => second = CheckpointConverter.Import(new ImportRequest(work.Input, work.Output)))));
        Assert.NotNull(second);
        Assert.Contains("created there while this run was writing", e.Message);
        Assert.True(CheckpointVerifier.Verify(work.Input, work.Output).Matches);
        Assert.Equal(new[] { "out" }, work.Leftovers());
    }

    [Fact]
    public void OfTwoForcedReplacementsOfOneCheckpointExactlyOneSucceeds()
    {
        using var work = new DamagedCheckpoint();
        CheckpointConverter.Import(new ImportRequest(work.Input, work.Output));
        ImportResult? second = null;
        var e = Assert.Throws<IOException>(() => CheckpointConverter.Import(new ImportRequest(work.Input, work.Output) { Force = true },
            AtLastByte(() => second = CheckpointConverter.Import(new ImportRequest(work.Input, work.Output) { Force = true }))));
        Assert.NotNull(second);
        Assert.Contains("replaced by another folder while this run was writing", e.Message);
        Assert.True(File.Exists(Path.Combine(work.Output, MegatronCheckpointFolder.TrackerFileName)));
        Assert.True(CheckpointVerifier.Verify(work.Input, work.Output).Matches);
        Assert.Equal(new[] { "out" }, work.Leftovers());
    }

    [Fact]
    public void TwoStagedOutputsCommittedToOnePath_TheSecondFailsAndKeepsTheFirst()
    {
        using var work = new DamagedCheckpoint();
        using var a = StagedOutput.Begin(work.Output, force: false, OutputKind.MegatronCheckpoint, new[] { work.Input });
        using var b = StagedOutput.Begin(work.Output, force: false, OutputKind.MegatronCheckpoint, new[] { work.Input });
        File.WriteAllText(Path.Combine(a.Staging, "who"), "a");
        File.WriteAllText(Path.Combine(b.Staging, "who"), "b");
        Assert.Null(a.Commit());
        var e = Assert.Throws<IOException>(() => b.Commit());
        Assert.Contains(work.Output, e.Message);
        Assert.Equal("a", File.ReadAllText(Path.Combine(work.Output, "who")));
    }
}
