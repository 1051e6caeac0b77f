using System.Text.Json.Nodes;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>
/// <c>inspect --megatron-path</c> reports the stored embedding rows, and with <c>--hf-model</c> the HF vocab_size and
/// the padding rows Megatron-LM added beyond it (text and JSON).
/// </summary>
public class InspectVocabularyRowsTests
{
    private const string Fixture = "qwen35-text-dense-tied-tiny";

    private static int HfVocabSize(string hf) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(hf, "config.json")))!["vocab_size"]!.GetValue<int>();

    private static JsonNode InspectJson(params string[] args)
    {
        var (code, output, error) = CliRunner.Run(new[] { "inspect" }.Concat(args).Append("--json").ToArray());
        Assert.True(code == 0, error);
        return JsonNode.Parse(output)!;
    }

    /// <param name="divisibleBy">make_vocab_size_divisible_by; with TP the rows are a multiple of it x TP.</param>
    [Theory]
    [InlineData("torch_dist", 1, 100, 1100)]
    [InlineData("torch", 2, 100, 1200)]
    public void APaddedCheckpointShowsItsStoredRowsAndWithTheHfConfigThePadding(string format, int tp, int divisibleBy, int rows)
    {
        var hf = TestPaths.Fixture(Fixture);
        int vocab = HfVocabSize(hf);
        Assert.Equal(1024, vocab);
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("mg");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron, "--format", format,
            "--tp", tp.ToString(), "--make-vocab-size-divisible-by", divisibleBy.ToString(), "--quiet");
        Assert.True(code == 0, error);

        var alone = InspectJson("--megatron-path", megatron);
        Assert.Equal(rows, alone["embedding_rows"]!.GetValue<int>());
        Assert.Null(alone["hf_vocab_size"]);
        Assert.Null(alone["vocab_padding_rows"]);

        var withHf = InspectJson("--megatron-path", megatron, "--hf-model", hf);
        Assert.Equal(rows, withHf["embedding_rows"]!.GetValue<int>());
        Assert.Equal(vocab, withHf["hf_vocab_size"]!.GetValue<int>());
        Assert.Equal(rows - vocab, withHf["vocab_padding_rows"]!.GetValue<int>());

        var text = CliRunner.Run("inspect", "--megatron-path", megatron, "--hf-model", hf);
        Assert.True(text.ExitCode == 0, text.Error);
        Assert.Contains($"{rows} stored (HF vocab_size {vocab} + {rows - vocab} padding rows)", text.Output);
        text = CliRunner.Run("inspect", "--megatron-path", megatron);
        Assert.Contains($"{rows} stored (give --hf-model for the padding)", text.Output);
    }

    [Fact]
    public void AnUnpaddedCheckpointHasNoPaddingRows()
    {
        var hf = TestPaths.Fixture(Fixture);
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("mg");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron, "--quiet");
        Assert.True(code == 0, error);
        var json = InspectJson("--megatron-path", megatron, "--hf-model", hf);
        Assert.Equal(HfVocabSize(hf), json["embedding_rows"]!.GetValue<int>());
        Assert.Equal(0, json["vocab_padding_rows"]!.GetValue<int>());
        Assert.Contains("(= HF vocab_size, not padded)", CliRunner.Run("inspect", "--megatron-path", megatron, "--hf-model", hf).Output);
    }
}
