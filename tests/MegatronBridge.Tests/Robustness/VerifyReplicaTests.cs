using System.Text.Json.Nodes;
using MegatronBridge.Formats.TorchDist;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// <c>verify</c> checks every stored copy of a legacy checkpoint, not one per tensor: the last pipeline stage's copy
/// of the (tied) word embeddings is compared with the first stage's, and the count of stored copies is reported.
/// </summary>
public class VerifyReplicaTests
{
    [Fact]
    public void AFlippedByteInTheLastStagesEmbeddingCopyIsReported()
    {
        using var work = new DamagedCheckpoint();
        var megatron = Path.Combine(work.Root, "mg");
        var run = Cli.CliRunner.Run("import", "--hf-model", work.Input, "--megatron-path", megatron, "--format", "torch", "--pp", "2");
        Assert.True(run.ExitCode == 0, run.Error);
        var ok = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
        Assert.True(ok.ExitCode == 0, ok.Error);
        var okJson = JsonNode.Parse(ok.Output)!;
        int tensors = okJson["tensors"]!.AsArray().Count;
        Assert.True((int)okJson["stored_copies"]! > tensors, "the last stage's embedding copy was not counted");

        // The tiny model's largest tensor is its word embedding table: flip a byte of the last stage's copy.
        var file = Path.Combine(megatron, MegatronCheckpointFolder.IterationFolderName(0), "mp_rank_00_001", "model_optim_rng.pt");
        RankFileDamage.FlipByteInLargestTensor(file);

        var bad = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
        Assert.Equal(2, bad.ExitCode);
        var name = Assert.Single(JsonNode.Parse(bad.Output)!["differences"]!.AsArray())!.GetValue<string>();
        Assert.Contains("embedding.word_embeddings.weight", name);
        Assert.Contains("copy at", name);
        Assert.Contains("mp_rank_00_001", name);
    }
}
