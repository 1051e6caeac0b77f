using Xunit;
using static MegatronBridge.Tests.Cli.CliRunner;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// Property: whatever the relation between the input and output paths of an import or export (equal, parent, child,
/// sibling, or a symlink to any of those; with or without --force; the sibling absent, empty or holding unrelated
/// files), no byte that existed before the run is lost. Runs that succeed must have written a new folder.
/// </summary>
public class PathRelationPropertyTests
{
    private static readonly string[] Relations = { "equal", "parent", "child", "sibling" };

    [Fact]
    public void NoPreExistingByteIsLostWhateverTheOutputPath()
    {
        var random = new Random(16);
        using var work = new DamagedCheckpoint();
        var mg = Path.Combine(work.Root, "mg");
        Assert.Equal(0, Run("import", "--hf-model", work.Input, "--megatron-path", mg).ExitCode);
        int succeeded = 0, refused = 0;
        for (int trial = 0; trial < 24; trial++)
        {
            bool export = random.Next(2) == 1;
            var anchor = export && random.Next(2) == 1 ? mg : work.Input;
            var relation = Relations[random.Next(Relations.Length)];
            bool viaSymlink = random.Next(2) == 1;
            bool force = random.Next(2) == 1;
            int siblingState = random.Next(3); // 0 absent, 1 empty, 2 unrelated files

            var output = relation switch
            {
                "equal" => anchor,
                "parent" => work.Root,
                "child" => Path.Combine(anchor, "sub"),
                _ => Path.Combine(work.Root, "sibling"),
            };
            var sibling = Path.Combine(work.Root, "sibling");
            if (relation == "sibling" && siblingState > 0)
            {
                Directory.CreateDirectory(sibling);
                if (siblingState == 2) File.WriteAllText(Path.Combine(sibling, "notes.txt"), $"trial {trial}");
            }
            var link = Path.Combine(work.Root, "link");
            if (viaSymlink)
            {
                File.CreateSymbolicLink(link, output);
                output = link;
            }
            var before = TreeSnapshot.Take(work.Root);
            var args = export
                ? new List<string> { "export", "--hf-model", work.Input, "--megatron-path", mg, "--hf-path", output }
                : new List<string> { "import", "--hf-model", work.Input, "--megatron-path", output };
            if (force) args.Add("--force");
            var r = Run(args.ToArray());
            var what = $"trial {trial}: {string.Join(' ', args)} ({relation} of {Path.GetFileName(anchor)}, symlink {viaSymlink}, sibling state {siblingState})";

            before.AssertAllPreserved(what);
            Assert.True(r.ExitCode is 0 or 1, $"{what}: exit {r.ExitCode}: {r.Error}");
            if (r.ExitCode == 0)
            {
                succeeded++;
                Assert.True(relation == "sibling" && !viaSymlink && siblingState < 2, $"{what}: should have been refused");
            }
            else
            {
                refused++;
                Assert.False(string.IsNullOrWhiteSpace(r.Error), what);
            }
            // Reset for the next trial: only what this trial added.
            if (File.Exists(link) || Directory.Exists(link)) File.Delete(link);
            if (Directory.Exists(sibling)) Directory.Delete(sibling, recursive: true);
            Assert.Equal(new[] { "mg" }, work.Leftovers());
        }
        Assert.True(succeeded > 0 && refused > 0, $"{succeeded} succeeded, {refused} refused: the trials did not cover both outcomes");
    }
}
