using System.Text.Json.Nodes;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// import, inspect --megatron-path and verify count a checkpoint the same way: stored tensors (every torch_dist tensor
/// key, every legacy rank-file tensor including replicas) and stored copies (those plus every extra state and common
/// state entry), in text and in --json.
/// </summary>
public class StoredCountTests
{
    private const string Vl = "qwen35-vl-dense-tiny";

    [Theory]
    [InlineData("torch_dist")]
    [InlineData("torch")]
    public void ImportInspectAndVerifyReportTheSameCounts(string format)
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = TestPaths.Fixture(Vl);
        var megatron = tmp.Sub("mg");
        var args = new List<string> { "import", "--hf-model", hf, "--megatron-path", megatron, "--json", "--format", format };
        if (format == "torch") args.AddRange(new[] { "--tp", "2", "--pp", "2" });
        var import = Cli.CliRunner.Run(args.ToArray());
        Assert.True(import.ExitCode == 0, import.Error);
        var inspect = Cli.CliRunner.Run("inspect", "--megatron-path", megatron, "--json");
        Assert.True(inspect.ExitCode == 0, inspect.Error);
        var verify = Cli.CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron, "--json");
        Assert.True(verify.ExitCode == 0, verify.Error);

        var counts = new[] { import.Output, inspect.Output, verify.Output }
            .Select(o => JsonNode.Parse(o)!).Select(j => ((int)j["stored_tensors"]!, (int)j["stored_copies"]!)).ToList();
        Assert.All(counts, c => Assert.Equal(counts[0], c));
        var inspected = JsonNode.Parse(inspect.Output)!;
        // Stored tensors are every tensor key (model weights); stored copies add the extra states and common state.
        Assert.Equal((int)inspected["keys"]!["model_weights"]!["count"]!, counts[0].Item1);
        Assert.True(counts[0].Item2 > counts[0].Item1);

        var texts = new[]
        {
            Cli.CliRunner.Run("inspect", "--megatron-path", megatron).Output,
            Cli.CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron).Output,
        };
        foreach (var text in texts)
        {
            Assert.Matches($@"stored tensors\W+{counts[0].Item1}\b", text);
            Assert.Matches($@"stored copies\W+{counts[0].Item2}\b", text);
        }
    }
}
