using System.Text.Json.Nodes;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;
using static MegatronBridge.Tests.Jobs.CheckpointVariantFixture;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// verify of a checkpoint without MTP against an HF folder whose config.json declares it: it passes (the checkpoint
/// holds what a model without MTP holds) and says that the mtp.* tensors were not checked.
/// </summary>
public class VerifyWithoutMtpTests
{
    private const string Fixture = "qwen35-vl-dense-tiny";

    [Fact]
    public void VerifySaysMtpWasNotChecked()
    {
        var hf = TestPaths.Fixture(Fixture);
        int mtpTensors = MtpTensorCount(Fixture);
        Assert.True(mtpTensors > 0);
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("mg");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron, "--no-mtp", "--quiet");
        Assert.True(code == 0, error);

        var text = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron, "--quiet");
        Assert.True(text.ExitCode == 0, text.Error);
        Assert.Contains($"MTP not checked: the Megatron checkpoint has no MTP tensors (config.json declares 1 layer(s); its {mtpTensors} mtp.* HF tensor(s) were not compared)", text.Output);

        var json = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron, "--json");
        Assert.True(json.ExitCode == 0, json.Error);
        var result = JsonNode.Parse(json.Output)!;
        Assert.True(result["match"]!.GetValue<bool>());
        var leftOut = result["mtp_left_out"]!;
        Assert.Equal(1, leftOut["config_layers"]!.GetValue<int>());
        var names = leftOut["hf_tensors"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Equal(mtpTensors, names.Count);
        Assert.All(names, n => Assert.True(IsMtp(n), n));
    }

    [Fact]
    public void VerifyOfACheckpointWithMtpSaysNothingAboutIt()
    {
        var hf = TestPaths.Fixture(Fixture);
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("mg");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron, "--quiet");
        Assert.True(code == 0, error);
        var text = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron, "--quiet");
        Assert.True(text.ExitCode == 0, text.Error);
        Assert.DoesNotContain("MTP not checked", text.Output);
        var json = JsonNode.Parse(CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron, "--json").Output)!;
        Assert.Null(json["mtp_left_out"]);
    }
}
