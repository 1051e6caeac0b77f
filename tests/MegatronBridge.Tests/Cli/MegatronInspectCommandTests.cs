using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.Jobs;
using MegatronBridge.Tests.Jobs;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary><c>inspect --megatron-path</c> on checkpoints whose layout and contents the test itself chose.</summary>
public class MegatronInspectCommandTests
{
    private static JsonObject Inspect(string path)
    {
        var (exitCode, output, error) = CliRunner.Run("inspect", "--megatron-path", path, "--json");
        Assert.True(exitCode == 0, $"exit code {exitCode}: {error}");
        return Assert.IsType<JsonObject>(JsonNode.Parse(output));
    }

    [Fact]
    public void GoldenTrainedTp2()
    {
        var json = Inspect(TestPaths.Golden("golden_trained_tp2"));
        Assert.Equal(1000, (long)json["iteration"]!);
        Assert.Equal("torch_dist", (string)json["format"]!);
        Assert.Contains(">= 0.19", (string)json["variant"]!);
        Assert.Equal(3.0, (double)json["checkpoint_version"]!);
        // 5 weights (expected_full_tensors.safetensors) + the optimizer moment.
        Assert.Equal(6, (int)json["tensors"]!);
        Assert.Equal(5, (int)json["keys"]!["model_weights"]!["count"]!);
        Assert.Equal(1, (int)json["keys"]!["optimizer"]!["count"]!);
        Assert.Equal(2, (int)json["parallel"]!["files"]!);
        Assert.Equal(2, (int)json["parallel"]!["tp"]!);
        Assert.Equal(new[] { "optimizer.state.exp_avg.decoder.final_layernorm.weight" }, json["other_state_keys"]!.AsArray().Select(n => (string)n!));
    }

    [Fact]
    public void TrainingSaveTp2Pp2Ep2WithCommonPt()
    {
        using var tmp = TestPaths.NewTempDir();
        var root = tmp.Sub("train");
        TrainingCheckpointFixture.Write(TestPaths.Fixture("qwen35-vl-moe-tiny"), root, new TrainingSave(2, 2, 2) { CommonPt = true, TrainingState = true, Threads = 2 });
        var json = Inspect(root);
        Assert.Equal(1000, (long)json["iteration"]!);
        Assert.Contains("<= 0.18", (string)json["variant"]!);
        Assert.Equal(16, (int)json["parallel"]!["files"]!);
        Assert.Equal((2, 2, 2), ((int)json["parallel"]!["tp"]!, (int)json["parallel"]!["pp"]!, (int)json["parallel"]!["ep"]!));
        Assert.Equal(2, (int)json["keys"]!["optimizer"]!["count"]!);
        Assert.Equal(1, (int)json["keys"]!["rng_state"]!["count"]!);
        Assert.Equal(1, (int)json["keys"]!["rerun_state"]!["count"]!);
    }

    [Fact]
    public void LegacyTp2Pp2Vpp2()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen35-vl-moe-tiny"), tmp.Sub("m"))
            { Format = MegatronFormat.Torch, Layout = new ParallelLayout(tp: 2, pp: 2, vpp: 2, ep: 2) });
        var json = Inspect(imported.IterationFolder);
        Assert.Equal("torch", (string)json["format"]!);
        Assert.Equal(0, (long)json["iteration"]!);
        Assert.Equal(3.0, (double)json["checkpoint_version"]!);
        Assert.Equal((2, 2, 2, 2, 8), ((int)json["parallel"]!["tp"]!, (int)json["parallel"]!["pp"]!, (int)json["parallel"]!["vpp"]!,
            (int)json["parallel"]!["ep"]!, (int)json["parallel"]!["files"]!));
        Assert.Equal(imported.Tensors, (int)json["tensors"]!);
        Assert.Equal(imported.Bytes, (long)json["bytes"]!);
    }

    [Fact]
    public void LegacyEpOnlyIsNotMistakenForPipeline()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen35-text-moe-tiny"), tmp.Sub("m"))
            { Format = MegatronFormat.Torch, Layout = new ParallelLayout(ep: 4) });
        var json = Inspect(imported.MegatronPath);
        Assert.Equal((1, 1, 4), ((int)json["parallel"]!["tp"]!, (int)json["parallel"]!["pp"]!, (int)json["parallel"]!["ep"]!));
    }

    /// <summary>A single-writer import holds global tensors: no layout is recorded, and the files say so.</summary>
    [Fact]
    public void SingleWriterImportRecordsNoLayout()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen35-vl-dense-tiny"), tmp.Sub("m")));
        var json = Inspect(imported.MegatronPath);
        Assert.Equal("torch_dist", (string)json["format"]!);
        Assert.Contains(">= 0.19", (string)json["variant"]!);
        Assert.Equal(1, (int)json["parallel"]!["files"]!);
        Assert.Null(json["parallel"]!["tp"]);
        Assert.Equal(imported.Bytes, (long)json["bytes"]!);
        Assert.True((int)json["keys"]!["extra_state"]!["count"]! > 0);
        Assert.Empty(json["other_state_keys"]!.AsArray());
    }

    [Fact]
    public void NeitherFolderNorPathIsAnError()
    {
        var (exitCode, _, error) = CliRunner.Run("inspect");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("--megatron-path", error);
    }

    [Fact]
    public void NotACheckpointIsAClearError()
    {
        using var tmp = TestPaths.NewTempDir();
        var (exitCode, _, error) = CliRunner.Run("inspect", "--megatron-path", tmp.Path);
        Assert.Equal(1, exitCode);
        Assert.Contains(tmp.Path, error);
    }

    [Fact]
    public void CliImportLegacyLanguageOnlyAndExportRoundTrip()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-vl-dense-tiny");
        var (code, output, error) = CliRunner.Run("import", "--hf-model", hfDir, "--megatron-path", tmp.Sub("m"), "--format", "torch",
            "--tp", "2", "--pp", "2", "--language-only", "--json");
        Assert.True(code == 0, error);
        Assert.Equal("Qwen3_5ForCausalLM", (string)JsonNode.Parse(output)!["architecture"]!);
        (code, output, error) = CliRunner.Run("export", "--hf-model", hfDir, "--megatron-path", tmp.Sub("m"), "--hf-path", tmp.Sub("hf"), "--json");
        Assert.True(code == 0, error);
        var json = JsonNode.Parse(output)!;
        Assert.Equal("torch", (string)json["format"]!);
        Assert.True((bool)json["language_only"]!);
        Assert.True(File.Exists(Path.Combine(tmp.Sub("hf"), "model.safetensors")));
    }
}
