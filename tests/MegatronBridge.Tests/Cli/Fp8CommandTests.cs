using System.Text.Json.Nodes;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Jobs;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Cli;

public class Fp8CommandTests(Fp8ReleaseFixture fixture) : IClassFixture<Fp8ReleaseFixture>
{
    [Fact]
    public void Inspect_reports_the_fp8_storage_and_the_dequantised_size()
    {
        var (exitCode, output, error) = CliRunner.Run("inspect", fixture.Release, "--json");
        Assert.True(exitCode == 0, error);
        var json = JsonNode.Parse(output)!.AsObject();
        var fp8 = json["fp8"]!.AsObject();
        using var release = SafetensorsCheckpoint.Open(fixture.Release);
        var weights = release.Tensors.Where(t => t.DType == DType.F8E4M3).ToList();
        var scales = release.Tensors.Where(t => t.Name.EndsWith("_scale_inv", StringComparison.Ordinal)).ToList();
        Assert.Equal(weights.Count, (int)fp8["quantized_weights"]!);
        Assert.Equal(weights.Sum(w => w.NumElements), (long)fp8["fp8_bytes"]!);
        Assert.Equal(scales.Sum(s => s.ByteLength), (long)fp8["scale_bytes"]!);
        Assert.Equal(2 * weights.Sum(w => w.NumElements), (long)fp8["dequantized_bytes"]!);
        Assert.Equal("bfloat16", (string)fp8["dequantized_dtype"]!);
        Assert.Equal("bfloat16", (string)fp8["scale_dtypes"]![0]!);
        // Parameters are the model's weights, not the scales: the same count as the bf16 fixture's.
        var (_, bf16Output, _) = CliRunner.Run("inspect", TestPaths.Fixture(Fp8ReleaseFixture.Source), "--json");
        Assert.Equal(JsonNode.Parse(bf16Output)!["parameters"]!.ToJsonString(), json["parameters"]!.ToJsonString());
        Assert.Null(JsonNode.Parse(bf16Output)!["fp8"]);

        var (textExit, text, _) = CliRunner.Run("inspect", fixture.Release);
        Assert.Equal(0, textExit);
        Assert.Contains("FP8 (blockwise e4m3)", text);
    }

    [Fact]
    public void Export_quantize_accepts_only_fp8_and_writes_the_release()
    {
        using var tmp = TestPaths.NewTempDir();
        var (bad, _, badError) = CliRunner.Run("export", "--hf-model", TestPaths.Fixture(Fp8ReleaseFixture.Source), "--megatron-path", fixture.Bf16Megatron,
            "--hf-path", tmp.Sub("int4"), "--quantize", "int4");
        Assert.NotEqual(0, bad);
        Assert.Contains("int4", badError);
        Assert.False(Directory.Exists(tmp.Sub("int4")));

        var (exitCode, _, error) = CliRunner.Run("export", "--hf-model", TestPaths.Fixture(Fp8ReleaseFixture.Source), "--megatron-path", fixture.Bf16Megatron,
            "--hf-path", tmp.Sub("fp8"), "--quantize", "fp8");
        Assert.True(exitCode == 0, error);
        using var written = SafetensorsCheckpoint.Open(tmp.Sub("fp8"));
        using var release = SafetensorsCheckpoint.Open(fixture.Release);
        Assert.Equal(release.Tensors.Select(t => t.ToString()), written.Tensors.Select(t => t.ToString()));
        foreach (var t in release.Tensors) Assert.Equal(release.ReadAll(t.Name), written.ReadAll(t.Name));
    }
}
