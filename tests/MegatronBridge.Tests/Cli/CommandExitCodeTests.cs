using MegatronBridge.Cli.Commands;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>
/// inspect, compare and generate through <see cref="CommandErrors"/>: a user error gives the command's documented exit
/// code (inspect 1; compare and generate 2) and one line "&lt;command&gt;: ..." naming the file; a bug gives 70 and a trace.
/// </summary>
public class CommandExitCodeTests
{
    private const int InternalError = 70;

    [Fact]
    public void Inspect_DamagedConfig_Exits1NamingTheFile()
    {
        using var dir = TestPaths.NewTempDir();
        File.WriteAllText(dir.Sub("config.json"), "{\"hidden_size\": 64,");
        var (code, output, error) = CliRunner.Run("inspect", dir.Path, "--json");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        AssertJsonUserError("inspect", error, dir.Sub("config.json"));
    }

    [Fact]
    public void Inspect_Bug_Exits70WithTrace()
    {
        var (code, error) = CliRunner.RunWithOutput(new BrokenWriter(), "inspect", TestPaths.Fixture("qwen35-text-moe-tiny"), "--json");
        Assert.Equal(InternalError, code);
        AssertJsonInternalError("inspect", error);
    }

    [Fact]
    public void InspectMegatron_UnreadableIterationFile_Exits1NamingTheFile()
    {
        using var dir = TestPaths.NewTempDir();
        File.WriteAllText(dir.Sub("latest_checkpointed_iteration.txt"), "banana");
        var (code, output, error) = CliRunner.Run("inspect", "--megatron-path", dir.Path, "--json");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        AssertJsonUserError("inspect", error, dir.Sub("latest_checkpointed_iteration.txt"));
    }

    [Fact]
    public void InspectMegatron_Bug_Exits70WithTrace()
    {
        var (code, error) = CliRunner.RunWithOutput(new BrokenWriter(), "inspect", "--megatron-path", TestPaths.Golden("golden_trained_tp2"), "--json");
        Assert.Equal(InternalError, code);
        AssertJsonInternalError("inspect", error);
    }

    [Fact]
    public void Compare_DamagedReferenceFile_Exits2NamingTheFile()
    {
        using var dir = TestPaths.NewTempDir();
        string reference = dir.Sub("reference_outputs.safetensors");
        File.WriteAllBytes(reference, new byte[] { 1, 2, 3 });
        var (code, output, error) = CliRunner.Run("compare", "--hf-model", TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "--reference", reference);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        AssertUserError("compare", error, reference);
    }

    [Fact]
    public void Compare_ImageCasesForATextModel_Exit2NamingTheReferenceFile()
    {
        // Without the check before the forward this reached the reference model's own InvalidOperationException (a 70).
        string reference = Path.Combine(TestPaths.Fixture("qwen3-vl-dense-tiny"), ReferenceOutputs.FileName);
        var (code, _, error) = CliRunner.Run("compare", "--hf-model", TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "--reference", reference);
        Assert.Equal(2, code);
        AssertUserError("compare", error, reference);
        Assert.Contains("no vision encoder", error);
    }

    [Fact]
    public void Compare_Bug_Exits70WithTrace()
    {
        var error = new StringWriter();
        int code = CompareCommand.Run(new CompareRequest(TestPaths.Fixture("qwen35-text-dense-tied-tiny")) { Tolerance = 1 }, new BrokenWriter(), error);
        Assert.Equal(InternalError, code);
        AssertInternalError("compare", error.ToString());
    }

    [Fact]
    public void Generate_DamagedPixelValuesFile_Exits2NamingTheFile()
    {
        using var dir = TestPaths.NewTempDir();
        string pixels = dir.Sub("pixels.safetensors");
        File.WriteAllBytes(pixels, new byte[] { 1, 2, 3 });
        var (code, output, error) = CliRunner.Run("generate", "--model", TestPaths.Fixture("qwen3-vl-dense-tiny"), "--input-ids", "1,2,3",
            "--pixel-values", pixels, "--image-grid-thw", "1,2,2");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        AssertUserError("generate", error, pixels);
    }

    [Fact]
    public void Generate_PixelValuesForATextModel_Exit2NamingTheConfig()
    {
        // Without the check before the forward this reached the reference model's own InvalidOperationException (a 70).
        string folder = TestPaths.Fixture("qwen35-text-moe-tiny");
        string pixels = Path.Combine(TestPaths.Fixture("qwen3-vl-dense-tiny"), ReferenceOutputs.FileName);
        var (code, _, error) = CliRunner.Run("generate", "--model", folder, "--input-ids", "1,2,3", "--pixel-values", pixels, "--image-grid-thw", "1,2,2");
        Assert.Equal(2, code);
        AssertUserError("generate", error, Path.Combine(folder, "config.json"));
        Assert.Contains("no vision_config", error);
    }

    [Fact]
    public void Generate_Bug_Exits70WithTrace()
    {
        var error = new StringWriter();
        int code = GenerateCommand.Run(new GenerateRequest(TestPaths.Fixture("qwen35-text-moe-tiny")) { InputIds = "1,2,3", MaxNewTokens = 1 }, new BrokenWriter(), error);
        Assert.Equal(InternalError, code);
        AssertInternalError("generate", error.ToString());
    }

    private static void AssertUserError(string command, string error, string file)
    {
        Assert.StartsWith($"{command}: ", error);
        Assert.Contains(file, error);
        Assert.DoesNotContain("internal error", error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static void AssertInternalError(string command, string error)
    {
        Assert.StartsWith($"{command}: internal error (NullReferenceException): broken output (test)", error);
        Assert.Contains(nameof(BrokenWriter), error);
    }

    /// <summary>Under --json the same report is one JSON object on stderr.</summary>
    private static void AssertJsonUserError(string command, string error, string file)
    {
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var report = System.Text.Json.Nodes.JsonNode.Parse(error)!["error"]!;
        Assert.Equal(command, (string?)report["command"]);
        Assert.Equal("input", (string?)report["kind"]);
        Assert.Equal(1, (int)report["exit_code"]!);
        Assert.Contains(file, (string?)report["message"]);
    }

    private static void AssertJsonInternalError(string command, string error)
    {
        var report = System.Text.Json.Nodes.JsonNode.Parse(error)!["error"]!;
        Assert.Equal(command, (string?)report["command"]);
        Assert.Equal("internal", (string?)report["kind"]);
        Assert.Equal(InternalError, (int)report["exit_code"]!);
        Assert.StartsWith("internal error (NullReferenceException): broken output (test)", (string?)report["message"]);
        Assert.Contains(nameof(BrokenWriter), (string?)report["trace"]);
    }
}
