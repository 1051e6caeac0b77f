using System.Globalization;
using System.Text.Json.Nodes;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Robustness;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>
/// <c>compare --json</c> and <c>generate --json</c> run through the real CLI on the tiny fixtures: the object carries
/// what the text report prints and what the fixture's reference file holds; errors are one JSON object on stderr.
/// </summary>
public class CompareGenerateJsonTests
{
    private static JsonObject Parse(string text) => JsonNode.Parse(text)!.AsObject();

    private static int[] Ids(JsonNode? node) => node!.AsArray().Select(n => n!.GetValue<int>()).ToArray();

    private static string E3(double value) => value.ToString("E3", CultureInfo.InvariantCulture);

    [Fact]
    public void Compare_RowsPassWithinTheTolerance_AndMatchTheTextReport()
    {
        var folder = TestPaths.Fixture("qwen35-vl-dense-tiny");
        var cases = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName));

        var (code, stdout, stderr) = CliRunner.Run("compare", "--hf-model", folder, "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal("", stderr);
        var json = Parse(stdout);
        JsonAssert.Field(json, "passed", true);
        JsonAssert.Field(json, "note", null);
        JsonAssert.Field(json["skipped_image_cases"]!.AsObject(), "count", 0);
        JsonAssert.Field(json["skipped_image_cases"]!.AsObject(), "reason", null);
        Assert.Empty(json["layerwise"]!.AsArray());

        var rows = json["rows"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Assert.Equal(cases.Select(c => c.Name), rows.Select(r => r!["case"]!.GetValue<string>()));
        var text = CliRunner.Run("compare", "--hf-model", folder);
        Assert.Equal(0, text.ExitCode);
        foreach (var (row, reference) in rows.Zip(cases))
        {
            JsonAssert.Field(row, "comparison", "HF vs reference");
            JsonAssert.Field(row, "tolerance", 1e-3);
            JsonAssert.Field(row, "passed", true);
            JsonAssert.Field(row, "greedy_tokens_match", true);
            JsonAssert.Field(row, "greedy_tokens", reference.GreedyTokens);
            JsonAssert.Field(row, "expected_greedy_tokens", reference.GreedyTokens);
            double max = row["logits_max_abs_diff"]!.GetValue<double>();
            Assert.InRange(max, 0, 1e-3);
            Assert.Contains(E3(max), text.Output);
            Assert.Contains(E3(row["logits_mean_abs_diff"]!.GetValue<double>()), text.Output);
            if (reference.ImageEmbeds is null) JsonAssert.Field(row, "image_features_max_abs_diff", null);
            else Assert.InRange(row["image_features_max_abs_diff"]!.GetValue<double>(), 0, 1e-3);
        }
    }

    [Fact]
    public void Compare_PastTheTolerance_ExitsOne_WithEveryRowFailed()
    {
        var (code, stdout, stderr) = CliRunner.Run("compare", "--hf-model", TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "--tolerance", "0", "--json");
        Assert.True(code == 1, stderr);
        var json = Parse(stdout);
        JsonAssert.Field(json, "passed", false);
        var rows = json["rows"]!.AsArray();
        Assert.NotEmpty(rows);
        foreach (var row in rows)
        {
            JsonAssert.Field(row!.AsObject(), "tolerance", 0);
            Assert.True(row["logits_max_abs_diff"]!.GetValue<double>() > 0);
            JsonAssert.Field(row.AsObject(), "passed", false);
        }
    }

    [Fact]
    public void Compare_AgainstALanguageOnlyCheckpoint_ReportsLayerwiseSkippedImagesAndTheGdnNote()
    {
        const string fixture = "qwen35-vl-dense-tiny";
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("lm");
        var imported = CliRunner.Run("import", "--hf-model", TestPaths.Fixture(fixture), "--megatron-path", megatron, "--language-only", "--quiet");
        Assert.True(imported.ExitCode == 0, imported.Error);
        var cases = ReferenceOutputs.Load(Path.Combine(TestPaths.Fixture(fixture), ReferenceOutputs.FileName));
        var textCases = cases.Where(c => c.Image is null).Select(c => c.Name).ToList();
        int images = cases.Count - textCases.Count;
        var before = TreeSnapshot.Take(tmp.Path);

        // The default layout tolerance fails on the fixture's GDN norms (stored as bf16(w - 1)): exit 1 with the note.
        string[] args = { "compare", "--hf-model", TestPaths.Fixture(fixture), "--megatron-path", megatron };
        var (code, stdout, stderr) = CliRunner.Run([.. args, "--json"]);
        Assert.True(code == 1, stderr);
        var json = Parse(stdout);
        JsonAssert.Field(json, "passed", false);
        JsonAssert.Field(json, "layout_tolerance", 1e-5);
        var skipped = json["skipped_image_cases"]!.AsObject();
        JsonAssert.Field(skipped, "count", images);
        JsonAssert.Field(skipped, "reason", "the Megatron checkpoint is language-only (no vision encoder); the text cases were compared");
        var text = CliRunner.Run(args);
        Assert.Equal(1, text.ExitCode);
        Assert.Contains("note: " + json["note"]!.GetValue<string>(), text.Output);
        Assert.Contains("bf16(w - 1)", json["note"]!.GetValue<string>());

        var layerwise = json["layerwise"]!.AsArray().Select(l => l!.AsObject()).ToList();
        Assert.Equal(textCases, layerwise.Select(l => l["case"]!.GetValue<string>()));
        foreach (var side in layerwise)
        {
            var first = side["first_divergence"]!.AsObject();
            Assert.True(first["max_abs_diff"]!.GetValue<double>() > 1e-5);
            Assert.Contains($"HF vs Megatron, case {side["case"]}, layer by layer: first divergence past 1E-05: {first["where"]} " +
                $"(max |Δ| {E3(first["max_abs_diff"]!.GetValue<double>())}, mean |Δ| {E3(first["mean_abs_diff"]!.GetValue<double>())})", text.Output);
            Assert.True(side["steps"]!.GetValue<int>() > 0);
            Assert.True(side["largest"]!["max_abs_diff"]!.GetValue<double>() >= first["max_abs_diff"]!.GetValue<double>());
        }
        var rows = json["rows"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Assert.Contains(rows, r => r["comparison"]!.GetValue<string>() == "HF vs Megatron" && !r["passed"]!.GetValue<bool>());
        Assert.DoesNotContain(rows, r => !textCases.Contains(r["case"]!.GetValue<string>()));
        before.AssertUnchanged();
    }

    [Fact]
    public void Generate_IdsEqualTheReferenceGreedyTokens_TextNullWithoutATokenizer()
    {
        var folder = TestPaths.Fixture("qwen35-text-moe-tiny");
        var reference = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)).Single(c => c.Name == "text");
        var (code, stdout, stderr) = CliRunner.Run("generate", "--model", folder, "--input-ids", string.Join(",", reference.InputIds),
            "--max-new-tokens", reference.GreedyTokens.Length.ToString(CultureInfo.InvariantCulture), "--json");
        Assert.True(code == 0, stderr);
        var json = Parse(stdout);
        JsonAssert.Field(json, "prompt_ids", reference.InputIds);
        JsonAssert.Field(json, "generated_ids", reference.GreedyTokens);
        JsonAssert.Field(json, "text", null);
    }

    [Fact]
    public void Generate_WithATokenizer_CarriesThePromptIdsAndTheTextTheTextOutputPrints()
    {
        var folder = TestPaths.Fixture("qwen35-text-moe-tiny");
        var processor = TestPaths.Fixture("qwen35-processor-tiny");
        string[] args = { "generate", "--model", folder, "--processor", processor, "--prompt", "The quick brown fox", "--max-new-tokens", "3" };
        var (code, stdout, stderr) = CliRunner.Run([.. args, "--json"]);
        Assert.True(code == 0, stderr);
        var json = Parse(stdout);
        var tokenizer = MegatronBridge.Preprocessing.QwenTokenizer.FromFolder(processor);
        Assert.Equal(tokenizer.Encode("The quick brown fox"), Ids(json["prompt_ids"]));

        var text = CliRunner.Run(args);
        Assert.Equal(0, text.ExitCode);
        var lines = text.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(string.Join(",", Ids(json["generated_ids"])), lines[0]);
        Assert.Equal("text: " + json["text"]!.GetValue<string>(), lines[1]);
    }

    [Theory]
    [InlineData("generate", "--model", "--input-ids", "5,x", "'x' is not a non-negative integer")]
    [InlineData("compare", "--hf-model", "--reference", "no-such-reference.safetensors", "no-such-reference.safetensors")]
    public void BadOptionValue_IsOneJsonErrorOnStderr_WithExitTwo(string command, string modelOption, string option, string value, string message)
    {
        string[] args = { command, modelOption, TestPaths.Fixture("qwen35-text-moe-tiny"), option, value };
        if (command == "generate") args = [.. args, "--max-new-tokens", "2"];
        var (code, stdout, stderr) = CliRunner.Run([.. args, "--json"]);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var error = Parse(stderr)["error"]!.AsObject();
        JsonAssert.Field(error, "command", command);
        JsonAssert.Field(error, "kind", "input");
        JsonAssert.Field(error, "exit_code", 2);
        Assert.Contains(message, error["message"]!.GetValue<string>());
    }
}
