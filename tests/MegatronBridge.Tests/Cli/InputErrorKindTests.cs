using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Cli.Commands;
using MegatronBridge.IO;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>
/// Which failures are the user's: <see cref="InvalidInputException"/> and the operating system's I/O failures on a
/// path give the command's input-error exit code and one line; every other exception type, including the .NET types a
/// program's own guards throw (ArgumentException, KeyNotFoundException, ...), is reported as a bug (exit 70).
/// </summary>
public class InputErrorKindTests
{
    [Theory]
    [InlineData(typeof(ArgumentException))]
    [InlineData(typeof(ArgumentOutOfRangeException))]
    [InlineData(typeof(ArgumentNullException))]
    [InlineData(typeof(KeyNotFoundException))]
    [InlineData(typeof(FormatException))]
    [InlineData(typeof(JsonException))]
    [InlineData(typeof(NotSupportedException))]
    [InlineData(typeof(OverflowException))]
    public void AGuardsExceptionInsideACommand_IsAnInternalError(Type type)
    {
        var error = new StringWriter();
        int code = CommandErrors.Run("demo", error, () => throw Create(type, "tensor 'w' is outside the table"));
        Assert.Equal(70, code);
        Assert.StartsWith($"demo: internal error ({type.Name}): tensor 'w' is outside the table", error.ToString());
        Assert.Contains("This is a bug in megatron-bridge", error.ToString());

        var json = new StringWriter();
        Assert.Equal(70, CommandErrors.Run("demo", json, () => throw Create(type, "x"), json: true));
        Assert.Equal("internal", (string?)JsonNode.Parse(json.ToString())!["error"]!["kind"]);
    }

    /// <summary>The (message, inner) constructor: the single-string one of some argument exceptions takes a parameter name.</summary>
    private static Exception Create(Type type, string message) => (Exception)Activator.CreateInstance(type, message, new Exception("inner"))!;

    [Theory]
    [InlineData(typeof(InvalidInputException))]
    [InlineData(typeof(IOException))]
    [InlineData(typeof(FileNotFoundException))]
    [InlineData(typeof(DirectoryNotFoundException))]
    [InlineData(typeof(UnauthorizedAccessException))]
    public void InvalidInput_AndTheOperatingSystemsPathFailures_AreInputErrors(Type type)
    {
        var error = new StringWriter();
        int code = CommandErrors.Run("demo", error, () => throw (Exception)Activator.CreateInstance(type, "/data/x: cannot be used")!, inputErrorExitCode: 2);
        Assert.Equal(2, code);
        Assert.Equal("demo: /data/x: cannot be used" + Environment.NewLine, error.ToString());
    }

    [Fact]
    public void MalformedConfigJson_Exits1NamingTheFile()
    {
        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(tmp.Sub("config.json"), "{\"architectures\": [\"Qwen3_5ForCausalLM\"], \"hidden_size\": ");
        var (code, output, error) = CliRunner.Run("inspect", tmp.Path);
        Assert.Equal(1, code);
        Assert.StartsWith($"inspect: {tmp.Sub("config.json")}: not valid JSON", error);
        Assert.Equal("", output);
    }

    [Fact]
    public void MalformedTokenizerJson_ExitsWithGeneratesInputCodeNamingTheFile()
    {
        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(tmp.Sub("tokenizer.json"), "{\"model\": {\"vocab\": ");
        var (code, _, error) = CliRunner.Run("generate", "--model", TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "--processor", tmp.Path, "--prompt", "hi", "--max-new-tokens", "1");
        Assert.Equal(2, code);
        Assert.StartsWith($"generate: {tmp.Sub("tokenizer.json")}: ", error);
        Assert.DoesNotContain("internal error", error);
    }

    [Theory]
    // Values the provider translation once reached with GetValue / checked casts (a broad catch relabelled them);
    // now refused where the field is read, naming it.
    [InlineData("qwen3-vl-dense-tiny", "rope_theta", "\"fast\"", "field 'rope_parameters.rope_theta' must be a number")]
    [InlineData("qwen3-vl-dense-tiny", "mrope_section", "[24, 20, 1e30]", "field 'rope_parameters.mrope_section[2]' must be an integer")]
    [InlineData("qwen35-vl-dense-tiny", "mrope_section", "[2, 1.5, 1]", "field 'rope_parameters.mrope_section[1]' must be an integer")]
    public void ConfigFieldOfTheWrongKind_Exits1NamingTheField(string fixture, string field, string value, string expected)
    {
        using var tmp = TestPaths.NewTempDir();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture(fixture), "config.json")))!.AsObject();
        config["text_config"]!["rope_parameters"]![field] = JsonNode.Parse(value);
        File.WriteAllText(tmp.Sub("config.json"), config.ToJsonString());
        var (code, _, error) = CliRunner.Run("inspect", tmp.Path);
        Assert.Equal(1, code);
        Assert.Contains(tmp.Sub("config.json"), error);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("internal error", error);
    }

    [Fact]
    public void UnsupportedArchitecture_Exits1NamingIt()
    {
        using var tmp = TestPaths.NewTempDir();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "config.json")))!.AsObject();
        config["architectures"] = new JsonArray("LlamaForCausalLM");
        File.WriteAllText(tmp.Sub("config.json"), config.ToJsonString());
        var (code, _, error) = CliRunner.Run("inspect", tmp.Path);
        Assert.Equal(1, code);
        Assert.StartsWith($"inspect: {tmp.Sub("config.json")}: unsupported architecture 'LlamaForCausalLM'; supported: ", error);
    }

    [Fact]
    public void BadOptionValues_Exit1_OrTheCommandsOwnCode_WithTheirMessage()
    {
        using var tmp = TestPaths.NewTempDir();
        string fixture = TestPaths.Fixture("qwen35-text-dense-tied-tiny");

        var tp = CliRunner.Run("import", "--hf-model", fixture, "--megatron-path", tmp.Sub("tp0"), "--format", "torch", "--tp", "0");
        Assert.Equal(1, tp.ExitCode);
        Assert.Equal("import: tensor-parallel size must be at least 1, got 0" + Environment.NewLine, tp.Error);
        Assert.False(Directory.Exists(tmp.Sub("tp0")));

        var shard = CliRunner.Run("export", "--hf-model", fixture, "--megatron-path", tmp.Sub("none"), "--hf-path", tmp.Sub("hf"), "--max-shard-size", "5 gigabytes");
        Assert.Equal(1, shard.ExitCode);
        Assert.Equal("export: shard size '5 gigabytes' is not a number followed by a unit such as 5GB, 500MB or 2GiB" + Environment.NewLine, shard.Error);
        Assert.False(Directory.Exists(tmp.Sub("hf")));

        var ids = CliRunner.Run("generate", "--model", fixture, "--input-ids", "5,x", "--max-new-tokens", "1");
        Assert.Equal(2, ids.ExitCode);
        Assert.Equal("generate: --input-ids: 'x' is not a non-negative integer" + Environment.NewLine, ids.Error);
    }

    [Fact]
    public void MissingFile_IsAnInputErrorNamingIt()
    {
        using var tmp = TestPaths.NewTempDir();
        string missing = tmp.Sub("reference_outputs.safetensors");
        var (code, _, error) = CliRunner.Run("compare", "--hf-model", TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "--reference", missing);
        Assert.Equal(2, code);
        Assert.StartsWith("compare: ", error);
        Assert.Contains(missing, error);
        Assert.DoesNotContain("internal error", error);
    }
}
