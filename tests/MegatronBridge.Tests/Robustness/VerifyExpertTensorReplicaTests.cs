using System.Text.Json.Nodes;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// With an expert-tensor-parallel size below the tensor-parallel size, every TP rank file holds expert shards: TP rank r
/// holds expert-TP rank r % etp's. verify compares those copies too.
/// </summary>
public class VerifyExpertTensorReplicaTests
{
    [Fact]
    public void AFlippedByteInAnExpertCopyOnTpRankOneIsReported()
    {
        using var work = new DamagedCheckpoint("qwen35-text-moe-tiny");
        var megatron = Path.Combine(work.Root, "mg");
        var run = Cli.CliRunner.Run("import", "--hf-model", work.Input, "--megatron-path", megatron, "--format", "torch", "--tp", "2", "--etp", "1");
        Assert.True(run.ExitCode == 0, run.Error);
        var ok = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
        Assert.True(ok.ExitCode == 0, ok.Error);
        var okJson = JsonNode.Parse(ok.Output)!;

        // Every expert tensor of mp_rank_01 is a stored copy: stored tensors = all rank files' tensors.
        var folder = Path.Combine(megatron, MegatronCheckpointFolder.IterationFolderName(0));
        var rank1 = Path.Combine(folder, "mp_rank_01", LegacyCheckpointNames.FileName);
        string expertName;
        byte[] expertBytes;
        using (var file = LegacyCheckpointFile.Open(rank1))
        {
            var expert = file.Tensors.First(t => t.Name.Contains(".mlp.experts.", StringComparison.Ordinal) && t.ByteLength >= 64);
            expertName = expert.Name;
            expertBytes = file.ReadAll(expert.Name);
        }
        var inspect = Cli.CliRunner.Run("inspect", "--megatron-path", megatron, "--json");
        Assert.Equal((int)JsonNode.Parse(inspect.Output)!["stored_tensors"]!, (int)okJson["stored_tensors"]!);

        var bytes = File.ReadAllBytes(rank1);
        int at = bytes.AsSpan().IndexOf(expertBytes.AsSpan(0, 64));
        Assert.True(at >= 0, "expert bytes not found in the rank file");
        bytes[at + 3] ^= 0x01;
        File.WriteAllBytes(rank1, bytes);

        var bad = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
        Assert.Equal(2, bad.ExitCode);
        var name = Assert.Single(JsonNode.Parse(bad.Output)!["differences"]!.AsArray())!.GetValue<string>();
        Assert.Contains("copy at", name);
        Assert.Contains("mp_rank_01", name);
        Assert.Contains(".mlp.experts.", name);
        Assert.Contains(expertName.Split(".mlp.experts.")[1].TrimEnd('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'), name);
    }
}
