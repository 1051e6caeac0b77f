using System.Text.Json.Nodes;
using MegatronBridge.Formats.TorchDist;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// A legacy TP2 checkpoint whose <c>mp_rank_01</c> folder was deleted looks like a complete TP1 grid. inspect must not
/// pass it off as fine: without the model's config it warns that the layout was inferred; with <c>--hf-model</c> it
/// names the missing rank folder.
/// </summary>
public class MissingRankInspectTests
{
    private static string ImportTp2(DamagedCheckpoint work)
    {
        var megatron = Path.Combine(work.Root, "mg");
        var run = Cli.CliRunner.Run("import", "--hf-model", work.Input, "--megatron-path", megatron, "--format", "torch", "--tp", "2");
        Assert.True(run.ExitCode == 0, run.Error);
        return megatron;
    }

    [Fact]
    public void ADeletedHighestTpRankIsNamedWithHfModelAndWarnedAboutWithout()
    {
        using var work = new DamagedCheckpoint();
        var megatron = ImportTp2(work);
        var intact = Cli.CliRunner.Run("inspect", "--megatron-path", megatron, "--hf-model", work.Input, "--json");
        Assert.True(intact.ExitCode == 0, intact.Error);
        Assert.Empty(JsonNode.Parse(intact.Output)!["warnings"]!.AsArray());
        Assert.Equal(2, (int)JsonNode.Parse(intact.Output)!["parallel"]!["tp"]!);

        Directory.Delete(Path.Combine(megatron, MegatronCheckpointFolder.IterationFolderName(0), "mp_rank_01"), recursive: true);
        var before = TreeSnapshot.Take(work.Root);

        var warned = Cli.CliRunner.Run("inspect", "--megatron-path", megatron, "--json");
        Assert.True(warned.ExitCode == 0, warned.Error);
        var warning = Assert.Single(JsonNode.Parse(warned.Output)!["warnings"]!.AsArray())!.GetValue<string>();
        Assert.Contains("inferred", warning);
        Assert.Contains("--hf-model", warning);
        var text = Cli.CliRunner.Run("inspect", "--megatron-path", megatron);
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("WARNING", text.Output);

        var named = Cli.CliRunner.Run("inspect", "--megatron-path", megatron, "--hf-model", work.Input);
        Assert.NotEqual(0, named.ExitCode);
        Assert.Contains("mp_rank_01", named.Error);
        Assert.Contains("missing", named.Error);
        Assert.Contains("vocab_size 1024", named.Error);
        before.AssertAllPreserved();
    }

    [Fact]
    public void HfModelWithoutMegatronPathIsRefused()
    {
        using var work = new DamagedCheckpoint();
        var run = Cli.CliRunner.Run("inspect", work.Input, "--hf-model", work.Input);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("--hf-model", run.Error);
    }
}
