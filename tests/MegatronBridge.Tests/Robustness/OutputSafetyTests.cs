using MegatronBridge.Formats.TorchDist;
using Xunit;
using static MegatronBridge.Tests.Cli.CliRunner;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// A careless --megatron-path / --hf-path never destroys a user's files: an output on an input is refused with or
/// without --force, and --force replaces only a folder that is recognisably an output of the same kind. Each case
/// hashes the whole work folder before and after.
/// </summary>
public class OutputSafetyTests
{
    private static string ImportOnce(DamagedCheckpoint work, string name = "mg")
    {
        var path = Path.Combine(work.Root, name);
        var r = Run("import", "--hf-model", work.Input, "--megatron-path", path);
        Assert.True(r.ExitCode == 0, r.Error);
        return path;
    }

    [Fact]
    public void ForceRefusesAFolderOfUnrelatedFilesAndNamesWhatItHolds()
    {
        using var work = new DamagedCheckpoint();
        var notes = Directory.CreateDirectory(Path.Combine(work.Root, "notes")).FullName;
        File.WriteAllText(Path.Combine(notes, "thesis.tex"), "years of work");
        Directory.CreateDirectory(Path.Combine(notes, "figures"));
        File.WriteAllText(Path.Combine(notes, "figures", "a.png"), "png");
        var before = TreeSnapshot.Take(work.Root);

        var r = Run("import", "--hf-model", work.Input, "--megatron-path", notes, "--force");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(notes, r.Error);
        Assert.Contains("thesis.tex", r.Error);
        Assert.Contains("figures", r.Error);
        Assert.Contains(MegatronCheckpointFolder.TrackerFileName, r.Error);
        before.AssertUnchanged();

        var e = Run("export", "--hf-model", work.Input, "--megatron-path", ImportOnce(work), "--hf-path", notes, "--force");
        Assert.Equal(1, e.ExitCode);
        Assert.Contains("thesis.tex", e.Error);
        Assert.Contains("config.json", e.Error);
        before.AssertAllPreserved();
    }

    [Fact]
    public void ForceRefusesAMegatronCheckpointAsAnHfOutputAndTheReverse()
    {
        using var work = new DamagedCheckpoint();
        var mg = ImportOnce(work);
        var hf = Path.Combine(work.Root, "hf");
        Assert.Equal(0, Run("export", "--hf-model", work.Input, "--megatron-path", mg, "--hf-path", hf).ExitCode);
        var other = ImportOnce(work, "mg2");
        var before = TreeSnapshot.Take(work.Root);

        var e = Run("export", "--hf-model", work.Input, "--megatron-path", mg, "--hf-path", other, "--force");
        Assert.Equal(1, e.ExitCode);
        Assert.Contains("Hugging Face folder", e.Error);
        var i = Run("import", "--hf-model", work.Input, "--megatron-path", hf, "--force");
        Assert.Equal(1, i.ExitCode);
        Assert.Contains("Megatron checkpoint", i.Error);
        before.AssertUnchanged();
    }

    [Theory]
    [InlineData("equal")]
    [InlineData("parent")]
    [InlineData("child")]
    [InlineData("symlink-to-input")]
    [InlineData("symlink-to-parent")]
    public void ImportOntoItsInputIsRefusedWithOrWithoutForce(string relation)
    {
        using var work = new DamagedCheckpoint();
        var output = relation switch
        {
            "equal" => work.Input,
            "parent" => work.Root,
            "child" => Path.Combine(work.Input, "megatron"),
            "symlink-to-input" => Link(work.Root, "link", work.Input),
            "symlink-to-parent" => Path.Combine(Link(work.Root, "link", work.Root), "in"),
            _ => throw new ArgumentException(relation),
        };
        var before = TreeSnapshot.Take(work.Root);
        foreach (var force in new[] { false, true })
        {
            var args = new List<string> { "import", "--hf-model", work.Input, "--megatron-path", output };
            if (force) args.Add("--force");
            var r = Run(args.ToArray());
            Assert.Equal(1, r.ExitCode);
            Assert.Contains(work.Input, r.Error);
            Assert.Matches("is the input|inside the input|contains the input|symbolic link", r.Error);
            before.AssertUnchanged();
        }
    }

    [Theory]
    [InlineData("hf-model")]
    [InlineData("megatron")]
    [InlineData("megatron-iteration")]
    [InlineData("parent-of-megatron")]
    public void ExportOntoAnInputIsRefusedWithForce(string relation)
    {
        using var work = new DamagedCheckpoint();
        var mg = ImportOnce(work);
        var output = relation switch
        {
            "hf-model" => work.Input,
            "megatron" => mg,
            "megatron-iteration" => Path.Combine(mg, "iter_0000000"),
            "parent-of-megatron" => work.Root,
            _ => throw new ArgumentException(relation),
        };
        var before = TreeSnapshot.Take(work.Root);
        var r = Run("export", "--hf-model", work.Input, "--megatron-path", mg, "--hf-path", output, "--force");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("input", r.Error);
        before.AssertUnchanged();
    }

    [Fact]
    public void ADanglingSymlinkAsOutputIsNamedAsSuch()
    {
        using var work = new DamagedCheckpoint();
        var link = Link(work.Root, "out", Path.Combine(work.Root, "nowhere"));
        var before = TreeSnapshot.Take(work.Root);
        var r = Run("import", "--hf-model", work.Input, "--megatron-path", link);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{link}: is a dangling symbolic link", r.Error);
        Assert.DoesNotContain("is a file", r.Error);
        before.AssertUnchanged();
    }

    [Fact]
    public void ForceReplacesAnOutputOfTheSameKindAndLeavesNoOldCopy()
    {
        using var work = new DamagedCheckpoint();
        var mg = ImportOnce(work);
        File.WriteAllText(Path.Combine(mg, "stale-marker"), "old");
        var inputs = TreeSnapshot.Take(work.Input);
        var r = Run("import", "--hf-model", work.Input, "--megatron-path", mg, "--force");
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.False(File.Exists(Path.Combine(mg, "stale-marker")));
        Assert.True(File.Exists(Path.Combine(mg, MegatronCheckpointFolder.TrackerFileName)));
        Assert.Equal(new[] { "mg" }, work.Leftovers());
        inputs.AssertUnchanged();

        var hf = Path.Combine(work.Root, "hf");
        Assert.Equal(0, Run("export", "--hf-model", work.Input, "--megatron-path", mg, "--hf-path", hf).ExitCode);
        var again = Run("export", "--hf-model", work.Input, "--megatron-path", mg, "--hf-path", hf, "--force");
        Assert.True(again.ExitCode == 0, again.Error);
        Assert.Equal(new[] { "hf", "mg" }, work.Leftovers());
    }

    internal static string Link(string folder, string name, string target)
    {
        var path = Path.Combine(folder, name);
        File.CreateSymbolicLink(path, target);
        return path;
    }
}
