using System.Security.Cryptography;
using System.Text.Json.Nodes;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary><c>megatron-bridge verify</c>: an imported checkpoint verifies; any changed byte is reported by tensor name.</summary>
public class VerifyCommandTests
{
    private sealed class Imported : IDisposable
    {
        public Imported(string fixture = DamagedCheckpoint.SmallFixture)
        {
            Work = new DamagedCheckpoint(fixture);
            var run = Cli.CliRunner.Run("import", "--hf-model", Work.Input, "--megatron-path", Megatron);
            Assert.True(run.ExitCode == 0, run.Error);
        }

        public DamagedCheckpoint Work { get; }
        public string Megatron => Path.Combine(Work.Root, "mg");
        public string Iteration => Path.Combine(Megatron, MegatronCheckpointFolder.IterationFolderName(0));

        public (int ExitCode, string Output, string Error) Verify(params string[] extra) =>
            Cli.CliRunner.Run(new[] { "verify", "--hf-model", Work.Input, "--megatron-path", Megatron }.Concat(extra).ToArray());

        /// <summary>
        /// Flips one byte of the tensor data of the torch_dist key <paramref name="key"/> (its chunk at offset 0; DCP
        /// stores each chunk as a small torch.save archive, so the data record is found inside it first).
        /// </summary>
        public void FlipStoredByte(string key, long at)
        {
            string path;
            long dataOffset;
            using (var checkpoint = TorchDistCheckpoint.Open(Iteration))
            {
                var item = checkpoint.Metadata.StorageData.Single(s => s.Key.Fqn == key && (s.Key.Offset ?? Array.Empty<long>()).All(o => o == 0));
                path = Path.Combine(Iteration, item.Info.RelativePath);
                using var handle = File.OpenHandle(path);
                var archive = TorchZipArchive.Open(handle, path, item.Info.Offset, item.Info.Length);
                var record = archive.Records.Single(r => r.Name.StartsWith("data/", StringComparison.Ordinal));
                Assert.InRange(at, 0, record.Length - 1);
                dataOffset = record.DataOffset;
            }
            var bytes = File.ReadAllBytes(path);
            bytes[dataOffset + at] ^= 0x10;
            File.WriteAllBytes(path, bytes);
        }

        public void Dispose() => Work.Dispose();
    }

    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void ImportedFixtureVerifies(string fixture)
    {
        using var mg = new Imported(fixture);
        var run = mg.Verify();
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("OK: all", run.Output);
        Assert.Equal("", run.Error);
    }

    [Fact]
    public void JsonReportsTheDigestOfTheHfBytes()
    {
        using var mg = new Imported();
        var run = mg.Verify("--json");
        Assert.True(run.ExitCode == 0, run.Error);
        var json = JsonNode.Parse(run.Output)!;
        Assert.True(json["match"]!.GetValue<bool>());
        Assert.Empty(json["differences"]!.AsArray());
        // The embedding is a plain copy: its digest is the digest of the HF tensor's bytes in model.safetensors.
        var (header, data) = mg.Work.ReadSafetensors();
        var offsets = header["model.embed_tokens.weight"]!["data_offsets"]!.AsArray().Select(n => (int)n!.GetValue<long>()).ToArray();
        var expected = Convert.ToHexStringLower(SHA256.HashData(data.AsSpan(offsets[0], offsets[1] - offsets[0])));
        var embedding = json["tensors"]!.AsArray().Single(t => t!["name"]!.GetValue<string>().EndsWith("embedding.word_embeddings.weight"))!;
        Assert.Equal("model.embed_tokens.weight", Assert.Single(embedding["hf_sources"]!.AsArray())!.GetValue<string>());
        Assert.Equal(expected, embedding["expected_sha256"]!.GetValue<string>());
        Assert.Equal(expected, embedding["stored_sha256"]!.GetValue<string>());
        Assert.True(json["tensors_checked"]!.GetValue<int>() > 50);
    }

    [Theory]
    [InlineData("embedding.word_embeddings.weight", 1001)]
    [InlineData("decoder.layers.1.mlp.linear_fc1.weight", 9000)]
    [InlineData("decoder.final_layernorm.weight", 0)]
    public void AFlippedByteInTheDistcpIsReportedByName(string key, long at)
    {
        using var mg = new Imported();
        mg.FlipStoredByte(key, at);
        var run = mg.Verify("--json");
        Assert.Equal(2, run.ExitCode);
        var json = JsonNode.Parse(run.Output)!;
        Assert.False(json["match"]!.GetValue<bool>());
        var differences = json["differences"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        var name = Assert.Single(differences);
        Assert.EndsWith(key, name);
        var tensor = json["tensors"]!.AsArray().Single(t => t!["name"]!.GetValue<string>() == name)!;
        Assert.Equal(at, tensor["first_difference"]!.GetValue<long>());
        Assert.NotEqual(tensor["expected_sha256"]!.GetValue<string>(), tensor["stored_sha256"]!.GetValue<string>());
        Assert.Contains($"tensor '{name}' differs", run.Error);
    }

    [Theory]
    [InlineData("torch_dist")]
    [InlineData("torch")]
    public void LanguageOnlyImportVerifiesAgainstTheVlCheckpoint(string format)
    {
        using var work = new DamagedCheckpoint("qwen35-vl-dense-tiny");
        var megatron = Path.Combine(work.Root, "mg");
        var import = Cli.CliRunner.Run("import", "--hf-model", work.Input, "--megatron-path", megatron, "--language-only", "--format", format);
        Assert.True(import.ExitCode == 0, import.Error);

        var run = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
        Assert.True(run.ExitCode == 0, run.Error);
        var json = JsonNode.Parse(run.Output)!;
        Assert.DoesNotContain(json["tensors"]!.AsArray(), t => t!["name"]!.GetValue<string>().StartsWith("vision_model.", StringComparison.Ordinal));
        // Detected without the flag; HF sources are named as the language-only view of the VL checkpoint names them.
        Assert.Contains(json["tensors"]!.AsArray(), t => t!["hf_sources"]!.AsArray().Any(n => n!.GetValue<string>() == "model.embed_tokens.weight"));
        Assert.Equal(0, Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--language-only").ExitCode);
    }

    [Fact]
    public void AChangedHfWeightIsReportedByName()
    {
        using var mg = new Imported();
        var (header, data) = mg.Work.ReadSafetensors();
        var start = (int)header["model.layers.2.mlp.down_proj.weight"]!["data_offsets"]![0]!.GetValue<long>();
        data[start + 7] ^= 1;
        mg.Work.WriteSafetensors(header, data);
        var run = mg.Verify();
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("FAILED: 1 of", run.Output);
        Assert.Contains("decoder.layers.2.mlp.linear_fc2.weight' differs", run.Error);
        Assert.Contains("model.layers.2.mlp.down_proj.weight", run.Error);
    }

    [Fact]
    public void SmallBlocksGiveTheSameDigests()
    {
        using var mg = new Imported();
        var whole = CheckpointVerifier.Verify(mg.Work.Input, mg.Megatron);
        var blocks = CheckpointVerifier.Verify(mg.Work.Input, mg.Megatron, blockBytes: 300);
        Assert.True(blocks.Matches);
        Assert.Equal(whole.Tensors.Select(t => t.ExpectedSha256), blocks.Tensors.Select(t => t.StoredSha256));
    }

    [Fact]
    public void AMissingKeyIsRefusedByName()
    {
        using var mg = new Imported("qwen35-text-moe-tiny");
        var other = new DamagedCheckpoint(DamagedCheckpoint.SmallFixture);
        using (other)
        {
            // A dense checkpoint checked against MoE weights: the expert keys are missing.
            var run = Cli.CliRunner.Run("verify", "--hf-model", mg.Work.Input, "--megatron-path", Path.Combine(other.Root, "none"));
            Assert.Equal(1, run.ExitCode);
            Assert.Contains("none", run.Error);
        }
        Directory.Delete(mg.Iteration, recursive: true);
        var missing = mg.Verify();
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("verify: ", missing.Error);
    }
}
