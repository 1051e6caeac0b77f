using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

public class LanguageOnlyTests
{
    private static string? LmName(string vl) =>
        vl.StartsWith("model.visual.", StringComparison.Ordinal) ? null
        : vl.StartsWith("model.language_model.", StringComparison.Ordinal) ? "model." + vl["model.language_model.".Length..]
        : vl;

    /// <summary>import --language-only then export gives exactly the fixture's language-model tensors under LM-only names.</summary>
    [Theory]
    [InlineData("qwen35-vl-dense-tiny", "torch_dist", "Qwen3_5ForCausalLM")]
    [InlineData("qwen35-vl-moe-tiny", "torch_dist", "Qwen3_5MoeForCausalLM")]
    [InlineData("qwen36-vl-moe-packed-tiny", "torch", "Qwen3_5MoeForCausalLM")]
    public void LanguageOnlyImportThenExportGivesTheLanguageModel(string fixture, string format, string architecture)
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture(fixture);
        var imported = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("m"))
        {
            LanguageOnly = true,
            Format = format == "torch" ? MegatronFormat.Torch : MegatronFormat.TorchDist,
            Layout = format == "torch" ? new ParallelLayout(tp: 2, pp: 2, ep: 2) : ParallelLayout.Single,
        });
        Assert.Equal(architecture, imported.Architecture);
        if (format == "torch_dist")
        {
            using var checkpoint = TorchDistCheckpoint.Open(imported.MegatronPath);
            Assert.DoesNotContain(checkpoint.Tensors, t => t.Name.StartsWith("language_model.", StringComparison.Ordinal) || t.Name.StartsWith("vision_model.", StringComparison.Ordinal));
            Assert.Contains(checkpoint.Tensors, t => t.Name.StartsWith("decoder.", StringComparison.Ordinal));
        }

        // No flag: detected from the checkpoint's names.
        var exported = CheckpointConverter.Export(new ExportRequest(hfDir, imported.MegatronPath, tmp.Sub("hf")));
        Assert.True(exported.LanguageOnly);
        HfRoundTrip.AssertSameTensors(hfDir, exported.HfPath, fixture, LmName);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(exported.HfPath, "config.json")))!.AsObject();
        var text = JsonNode.Parse(File.ReadAllText(Path.Combine(hfDir, "config.json")))!["text_config"]!.AsObject();
        Assert.Equal(architecture, (string)config["architectures"]![0]!);
        Assert.Equal((string)text["model_type"]!, (string)config["model_type"]!);
        Assert.Equal((int)text["num_hidden_layers"]!, (int)config["num_hidden_layers"]!);
        Assert.Null(config["vision_config"]);
    }

    [Fact]
    public void VisionLanguageExportIsUnchangedWithoutTheFlag()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-vl-dense-tiny");
        var imported = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("m")));
        var exported = CheckpointConverter.Export(new ExportRequest(hfDir, imported.MegatronPath, tmp.Sub("hf")));
        Assert.False(exported.LanguageOnly);
        HfRoundTrip.AssertSameTensors(hfDir, exported.HfPath, "vl");
    }

    [Fact]
    public void LanguageOnlyIsRefusedForQwen3Vl()
    {
        using var tmp = TestPaths.NewTempDir();
        var e = Assert.Throws<InvalidInputException>(() =>
            CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen3-vl-dense-tiny"), tmp.Sub("m")) { LanguageOnly = true }));
        Assert.Contains("language-model-only", e.Message);
        Assert.False(Directory.Exists(tmp.Sub("m")));
    }
}
