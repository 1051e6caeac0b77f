using System.Text.Json.Nodes;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary><c>verify</c> on legacy per-rank checkpoints (<c>--format torch</c>) saved with model parallelism.</summary>
public class VerifyLegacyTests
{
    private static (DamagedCheckpoint Work, string Megatron) ImportLegacy(string fixture, params string[] layout)
    {
        var work = new DamagedCheckpoint(fixture);
        var megatron = Path.Combine(work.Root, "mg");
        var run = Cli.CliRunner.Run(new[] { "import", "--hf-model", work.Input, "--megatron-path", megatron, "--format", "torch" }.Concat(layout).ToArray());
        Assert.True(run.ExitCode == 0, run.Error);
        return (work, megatron);
    }

    [Theory]
    [InlineData(DamagedCheckpoint.SmallFixture, new[] { "--tp", "2", "--pp", "2" })]
    [InlineData("qwen35-text-moe-tiny", new[] { "--tp", "2", "--ep", "2" })]
    public void ImportedLegacyCheckpointVerifies(string fixture, string[] layout)
    {
        var (work, megatron) = ImportLegacy(fixture, layout);
        using (work)
        {
            var run = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
            Assert.True(run.ExitCode == 0, run.Error);
            var json = JsonNode.Parse(run.Output)!;
            Assert.True(json["match"]!.GetValue<bool>());
            // TP shards are checked one by one under their gathered names.
            Assert.Contains(json["tensors"]!.AsArray(), t => t!["name"]!.GetValue<string>().Contains("#tp1"));
        }
    }

    [Fact]
    public void AFlippedByteInARankFileIsReportedByName()
    {
        var (work, megatron) = ImportLegacy(DamagedCheckpoint.SmallFixture, "--tp", "2");
        using (work)
        {
            var iteration = Path.Combine(megatron, MegatronCheckpointFolder.IterationFolderName(0));
            var file = LegacyCheckpointNames.RankFile(iteration, tensorRank: 1);
            RankFileDamage.FlipByteInLargestTensor(file);

            var run = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
            Assert.Equal(2, run.ExitCode);
            var name = Assert.Single(JsonNode.Parse(run.Output)!["differences"]!.AsArray())!.GetValue<string>();
            Assert.EndsWith("#tp1", name);
            Assert.Contains($"tensor '{name}' differs", run.Error);
        }
    }
}
