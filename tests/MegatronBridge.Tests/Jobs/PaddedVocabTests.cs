using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>
/// Vocabularies padded as Megatron-LM pads them (a multiple of make_vocab_size_divisible_by x TP): import writes zero
/// rows, verify checks them, export drops them and gives back the fixture byte for byte.
/// </summary>
public class PaddedVocabTests
{
    [Theory]
    // The sizes Megatron-LM computes for the real models (worked out by hand: 248320 / 1024 = 242.5 -> 243 x 1024).
    [InlineData(248320, 128, 8, 248832)]
    [InlineData(151936, 128, 2, 152064)]
    [InlineData(248320, 128, 1, 248320)]
    [InlineData(1024, 100, 2, 1200)]
    [InlineData(1024, 100, 1, 1100)]
    public void PaddedSizeIsMegatronLms(int vocab, int divisibleBy, int tp, int expected) =>
        Assert.Equal(expected, VocabPadding.PaddedSize(vocab, divisibleBy, tp));

    [Fact]
    public void LegacyTp2PaddedCheckpointVerifiesAndExportsBackToTheFixture()
    {
        using var tmp = TestPaths.NewTempDir();
        const string fixture = "qwen35-vl-dense-tiny"; // vocab 1024, untied: embedding and output layer both padded
        var hf = TestPaths.Fixture(fixture);
        var megatron = tmp.Sub("mg");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron, "--format", "torch", "--tp", "2",
            "--make-vocab-size-divisible-by", "100");
        Assert.True(code == 0, error);

        // 1024 rows padded to 1200 (a multiple of 100 x 2): 600 per TP rank; rank 1 holds rows 600..1199, of which 1024.. are zero.
        var iteration = Path.Combine(megatron, "iter_0000000");
        using (var rank1 = LegacyCheckpointFile.Open(Path.Combine(iteration, "mp_rank_01", "model_optim_rng.pt"), modelKey: null))
        {
            foreach (var name in new[] { "language_model.embedding.word_embeddings.weight", "language_model.output_layer.weight" })
            {
                var meta = rank1.ChunkTensors("model").Single(t => t.Name == name);
                Assert.Equal(new TensorShape(600, 64), meta.Shape);
                var bytes = new byte[meta.ByteLength];
                rank1.ReadChunk("model", name, 0, bytes);
                long rowBytes = meta.ByteLength / 600;
                Assert.All(bytes.Skip((int)((1024 - 600) * rowBytes)), b => Assert.Equal(0, b));
                Assert.Contains(bytes.Take((int)((1024 - 600) * rowBytes)), b => b != 0);
            }
        }

        (code, _, error) = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron);
        Assert.True(code == 0, error);
        var exported = CheckpointConverter.Export(new ExportRequest(hf, megatron, tmp.Sub("hf")));
        HfRoundTrip.AssertSameTensors(hf, exported.HfPath, fixture);
        Assert.Equal(File.ReadAllBytes(Path.Combine(hf, "config.json")), File.ReadAllBytes(Path.Combine(exported.HfPath, "config.json")));
    }

    [Theory]
    [InlineData("qwen35-text-dense-tied-tiny", "embedding.word_embeddings.weight")]
    [InlineData("qwen3-vl-dense-tiny", "language_model.embedding.word_embeddings.weight")]
    public void TorchDistPaddedCheckpointVerifiesAndExportsBackToTheFixture(string fixture, string embedding)
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = TestPaths.Fixture(fixture);
        var megatron = tmp.Sub("mg");
        // torch_dist holds the global tensor: padded for the TP the user will train with (here 4: 1024 -> 1200).
        var (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron, "--tp", "4", "--make-vocab-size-divisible-by", "50");
        Assert.True(code == 0, error);
        using (var checkpoint = TorchDistCheckpoint.Open(Path.Combine(megatron, "iter_0000000")))
        {
            var meta = checkpoint.Get(embedding);
            Assert.Equal(1200, meta.Shape[0]);
            var bytes = checkpoint.ReadAll(embedding);
            long rowBytes = meta.ByteLength / 1200;
            Assert.All(bytes.Skip((int)(1024 * rowBytes)), b => Assert.Equal(0, b));
        }

        (code, _, error) = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron);
        Assert.True(code == 0, error);
        var exported = CheckpointConverter.Export(new ExportRequest(hf, megatron, tmp.Sub("hf")));
        HfRoundTrip.AssertSameTensors(hf, exported.HfPath, fixture);
    }

    [Theory]
    [InlineData("torch_dist", "1")]
    [InlineData("torch", "2")]
    public void CompareAndGenerateReadThePaddedCheckpointAtTheHfVocabulary(string format, string tp)
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = TestPaths.Fixture("qwen3-vl-dense-tiny"); // no GDN norm: Megatron's forward matches HF's to float rounding
        var megatron = tmp.Sub("mg");
        var (code, output, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron, "--format", format, "--tp", tp,
            "--make-vocab-size-divisible-by", "100");
        Assert.True(code == 0, error);
        // Against the transformers reference logits of the fixture (vocab 1024 columns), and HF vs Megatron.
        (code, output, error) = CliRunner.Run("compare", "--hf-model", hf, "--megatron-path", megatron);
        Assert.True(code == 0, output + error);

        (code, var fromHf, error) = CliRunner.Run("generate", "--model", hf, "--input-ids", "5,17,99,3", "--max-new-tokens", "6");
        Assert.True(code == 0, error);
        (code, var fromMegatron, error) = CliRunner.Run("generate", "--model", megatron, "--hf-model", hf, "--input-ids", "5,17,99,3", "--max-new-tokens", "6");
        Assert.True(code == 0, error);
        Assert.Equal(fromHf.Trim(), fromMegatron.Trim());
    }

    /// <summary>The tied text fixture cut to a 1000-token vocabulary (first 1000 embedding rows, config vocab_size 1000).</summary>
    private static string Vocab1000(TempDir tmp)
    {
        var source = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        var dir = tmp.Sub("hf1000");
        Directory.CreateDirectory(dir);
        using (var original = MegatronBridge.Formats.Safetensors.SafetensorsCheckpoint.Open(source))
        {
            var metas = original.Tensors.Select(t => t.Name == "model.embed_tokens.weight" ? t with { Shape = t.Shape.WithDim(0, 1000) } : t).ToList();
            using var writer = MegatronBridge.Formats.Safetensors.SafetensorsWriter.Create(Path.Combine(dir, "model.safetensors"), metas);
            foreach (var m in metas) writer.WriteTensor(m.Name, original.ReadAll(m.Name).AsSpan(0, (int)m.ByteLength));
            writer.Commit();
        }
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        config["vocab_size"] = 1000;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return dir;
    }

    [Fact]
    public void VerifyChecksThatThePaddingRowsAreZero()
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = Vocab1000(tmp);
        // Padded by the import (1000 -> 1024, a multiple of 512): zeros, verified.
        var padded = tmp.Sub("padded");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", padded, "--make-vocab-size-divisible-by", "512");
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", padded);
        Assert.True(code == 0, error);
        // run_config.yaml gives Megatron-Bridge the HF size and lets its provider pad it the same way.
        var runConfig = File.ReadAllLines(Path.Combine(padded, "iter_0000000", RunConfigFile.FileName));
        Assert.Contains("  vocab_size: 1000", runConfig);
        Assert.Contains("  make_vocab_size_divisible_by: 512", runConfig);
        Assert.Contains("  should_pad_vocab: true", runConfig);

        // The same shape holding real rows 1000..1023 (the uncut fixture's import): not zero padding, so a difference.
        var notZero = tmp.Sub("not-zero");
        (code, _, error) = CliRunner.Run("import", "--hf-model", TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "--megatron-path", notZero);
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", notZero);
        Assert.Equal(2, code);
        Assert.Contains("embedding.word_embeddings.weight", error);
    }

    [Fact]
    public void WithoutTheFlagNothingIsPadded()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen35-text-dense-tied-tiny"), tmp.Sub("mg")));
        Assert.Equal(1024, imported.VocabRows);
        using var stored = MegatronCheckpoint.Locate(imported.IterationFolder);
        Assert.Equal(1024, stored.StoredVocabRows());
    }
}
