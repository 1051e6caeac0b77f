using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;
using static MegatronBridge.Tests.Jobs.CheckpointVariantFixture;

namespace MegatronBridge.Tests.Jobs;

/// <summary>
/// Checkpoints shaped as users have them: an HF folder without <c>mtp.*</c>, a Megatron checkpoint without MTP,
/// either MTP inner-layer name in either format, and legacy sequential (non grouped-GEMM) experts. Each converts back
/// to the fixture byte for byte (minus what the case removes) and verifies.
/// </summary>
public class CheckpointVariantTests
{
    private static (int ExitCode, string Output, string Error) Run(params string[] args) => CliRunner.Run(args);

    private static JsonNode RunJson(params string[] args)
    {
        var (code, output, error) = Run(args);
        Assert.True(code == 0, $"{string.Join(' ', args)} -> {code}: {error}");
        return JsonNode.Parse(output)!;
    }

    private static void AssertVerifies(string hfModel, string megatron)
    {
        var (code, output, error) = Run("verify", "--hf-model", hfModel, "--megatron-path", megatron, "--json");
        Assert.True(code == 0, $"verify {hfModel} {megatron} -> {code}: {error}");
        Assert.True(JsonNode.Parse(output)!["match"]!.GetValue<bool>());
    }

    private static string Iteration(string megatron) => Path.Combine(megatron, MegatronCheckpointFolder.IterationFolderName(0));

    /// <summary>The greedy tokens of the fixture's image case, decoded from <paramref name="model"/>.</summary>
    private static void AssertGeneratesReferenceTokens(string model, string fixture)
    {
        var folder = TestPaths.Fixture(fixture);
        var c = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)).Single(x => x.Name == "image");
        var grid = c.Image!.Grids.Single();
        var (code, output, error) = Run("generate", "--model", model, "--hf-model", folder, "--input-ids", string.Join(",", c.InputIds),
            "--pixel-values", Path.Combine(folder, ReferenceOutputs.FileName), "--image-grid-thw", $"{grid.T},{grid.H},{grid.W}",
            "--max-new-tokens", c.GreedyTokens.Length.ToString());
        Assert.True(code == 0, error);
        Assert.Equal(string.Join(",", c.GreedyTokens), output.Trim());
    }

    // ---- 1. MTP absent -------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("torch_dist")]
    [InlineData("torch")]
    public void HfFolderWithoutMtp_ImportsWithoutMtpAndAWarning_ExportsTheFixtureMinusMtp_AndVerifies(string format)
    {
        const string fixture = "qwen35-vl-moe-tiny";
        using var tmp = TestPaths.NewTempDir();
        var noMtp = CopyWithoutMtp(fixture, tmp.Sub("hf-no-mtp"));
        var megatron = tmp.Sub("mg");
        var layout = format == "torch" ? new[] { "--tp", "2", "--ep", "2" } : Array.Empty<string>();
        var (code, output, error) = Run(new[] { "import", "--hf-model", noMtp, "--megatron-path", megatron, "--format", format, "--json" }.Concat(layout).ToArray());
        Assert.True(code == 0, error);
        // The warning names what was left out and what Megatron needs then.
        Assert.Contains("import: warning:", error);
        Assert.Contains("mtp.fc.weight", error);
        Assert.Contains("--mtp-num-layers unset (or 0)", error);
        var json = JsonNode.Parse(output)!;
        Assert.Null(json["mtp_num_layers"]);
        Assert.Null(json["mtp_layer_name"]);
        var leftOut = json["mtp_left_out"]!["hf_tensors"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Equal(MtpTensorCount(fixture), leftOut.Count);
        Assert.All(leftOut, n => Assert.StartsWith("mtp.", n));
        var names = format == "torch" ? LegacyNames(Iteration(megatron)) : DistTensorKeys(Iteration(megatron));
        Assert.DoesNotContain(names, n => n.Contains("mtp.", StringComparison.Ordinal));

        // Export with either HF folder: the fixture minus mtp.*, byte for byte; the result says MTP was not written.
        foreach (var (hfModel, label) in new[] { (noMtp, "no-mtp"), (TestPaths.Fixture(fixture), "original") })
        {
            var exported = RunJson("export", "--hf-model", hfModel, "--megatron-path", megatron, "--hf-path", tmp.Sub("out-" + label), "--json");
            Assert.Contains("no MTP", exported["mtp_left_out"]!["reason"]!.GetValue<string>());
            HfRoundTrip.AssertSameTensors(TestPaths.Fixture(fixture), tmp.Sub("out-" + label), $"{fixture} {format} {label}", n => IsMtp(n) ? null : n);
            AssertVerifies(hfModel, megatron);
        }
        var summary = Run("export", "--hf-model", noMtp, "--megatron-path", megatron, "--hf-path", tmp.Sub("out-text"));
        Assert.Equal(0, summary.ExitCode);
        Assert.Contains("not written", summary.Output);
    }

    [Fact]
    public void NoMtpFlag_LeavesTheMtpBlockOut_AndTheExportIsTheFixtureMinusMtp()
    {
        const string fixture = "qwen35-vl-dense-tiny";
        var hf = TestPaths.Fixture(fixture);
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("mg");
        var (code, output, error) = Run("import", "--hf-model", hf, "--megatron-path", megatron, "--no-mtp", "--json");
        Assert.True(code == 0, error);
        Assert.Contains("--no-mtp", error);
        var json = JsonNode.Parse(output)!;
        Assert.Null(json["mtp_num_layers"]);
        Assert.Equal(MtpTensorCount(fixture), json["mtp_left_out"]!["hf_tensors"]!.AsArray().Count);
        Assert.DoesNotContain(DistTensorKeys(Iteration(megatron)), n => n.Contains("mtp.", StringComparison.Ordinal));

        var result = CheckpointConverter.Export(new ExportRequest(hf, megatron, tmp.Sub("out")));
        Assert.NotNull(result.MtpLeftOut);
        Assert.Equal(1, result.MtpLeftOut!.ConfigLayers);
        HfRoundTrip.AssertSameTensors(hf, result.HfPath, fixture, n => IsMtp(n) ? null : n);
        AssertVerifies(hf, megatron);
        AssertGeneratesReferenceTokens(megatron, fixture);
    }

    [Fact]
    public void ImportWithMtp_RecordsMtpInTheProvider_AndReportsNothingLeftOut()
    {
        var hf = TestPaths.Fixture("qwen35-vl-dense-tiny");
        using var tmp = TestPaths.NewTempDir();
        var result = CheckpointConverter.Import(new ImportRequest(hf, tmp.Sub("mg")));
        Assert.Null(result.MtpLeftOut);
        Assert.Equal(1, result.Provider!.MtpNumLayers);
        Assert.Equal(MtpLayerNames.TransformerLayer, result.MtpLayerName);
        var noMtp = CheckpointConverter.Import(new ImportRequest(hf, tmp.Sub("mg2")) { NoMtp = true });
        Assert.Null(noMtp.Provider!.MtpNumLayers);
        Assert.Null(noMtp.MtpLayerName);
    }

    // ---- 2. Both MTP inner-layer names ---------------------------------------------------------------------------

    [Fact]
    public void DefaultMtpLayerNames_AreWhatCurrentMegatronCoreReads_AndInspectShowsThem()
    {
        var hf = TestPaths.Fixture("qwen35-vl-dense-tiny");
        using var tmp = TestPaths.NewTempDir();
        Assert.Equal(0, Run("import", "--hf-model", hf, "--megatron-path", tmp.Sub("dist")).ExitCode);
        Assert.Equal(0, Run("import", "--hf-model", hf, "--megatron-path", tmp.Sub("legacy"), "--format", "torch").ExitCode);
        Assert.Equal("transformer_layer", RunJson("inspect", "--megatron-path", tmp.Sub("dist"), "--json")["mtp_layer_name"]!.GetValue<string>());
        Assert.Equal("mtp_model_layer", RunJson("inspect", "--megatron-path", tmp.Sub("legacy"), "--json")["mtp_layer_name"]!.GetValue<string>());
        var text = Run("inspect", "--megatron-path", tmp.Sub("legacy"));
        Assert.Contains("MTP inner layer", text.Output);
        Assert.Contains("mtp_model_layer", text.Output);
        var none = CopyWithoutMtp("qwen35-vl-dense-tiny", tmp.Sub("hf-no-mtp"));
        Assert.Equal(0, Run("import", "--hf-model", none, "--megatron-path", tmp.Sub("none")).ExitCode);
        Assert.Null(RunJson("inspect", "--megatron-path", tmp.Sub("none"), "--json")["mtp_layer_name"]);
    }

    [Fact]
    public void TorchDistCheckpointWithMtpModelLayerKeys_ExportsVerifiesAndGenerates()
    {
        const string fixture = "qwen35-vl-moe-tiny";
        var hf = TestPaths.Fixture(fixture);
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("mg");
        var imported = RunJson("import", "--hf-model", hf, "--megatron-path", megatron, "--mtp-layer-name", "mtp_model_layer", "--json");
        Assert.Equal("mtp_model_layer", imported["mtp_layer_name"]!.GetValue<string>());
        var keys = DistTensorKeys(Iteration(megatron));
        Assert.Contains(keys, k => k.Contains(".mtp_model_layer.", StringComparison.Ordinal));
        Assert.DoesNotContain(keys, k => k.Contains(".transformer_layer.", StringComparison.Ordinal));
        Assert.Equal("mtp_model_layer", RunJson("inspect", "--megatron-path", megatron, "--json")["mtp_layer_name"]!.GetValue<string>());

        RunJson("export", "--hf-model", hf, "--megatron-path", megatron, "--hf-path", tmp.Sub("out"), "--json");
        HfRoundTrip.AssertSameTensors(hf, tmp.Sub("out"), fixture);
        AssertVerifies(hf, megatron);
        AssertGeneratesReferenceTokens(megatron, fixture);
    }

    [Fact]
    public void LegacyCheckpointWithTransformerLayer_ExportsVerifiesAndGenerates()
    {
        const string fixture = "qwen35-vl-moe-tiny";
        var hf = TestPaths.Fixture(fixture);
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("mg");
        RunJson("import", "--hf-model", hf, "--megatron-path", megatron, "--format", "torch", "--tp", "2", "--pp", "2", "--ep", "2",
            "--mtp-layer-name", "transformer_layer", "--json");
        var names = LegacyNames(Iteration(megatron));
        Assert.Contains(names, k => k.Contains("mtp.layers.0.transformer_layer.self_attention.linear_qkv._extra_state", StringComparison.Ordinal));
        Assert.DoesNotContain(names, k => k.Contains(".mtp_model_layer.", StringComparison.Ordinal));
        var inspected = RunJson("inspect", "--megatron-path", megatron, "--json");
        Assert.Equal("transformer_layer", inspected["mtp_layer_name"]!.GetValue<string>());

        RunJson("export", "--hf-model", hf, "--megatron-path", megatron, "--hf-path", tmp.Sub("out"), "--json");
        HfRoundTrip.AssertSameTensors(hf, tmp.Sub("out"), fixture);
        AssertVerifies(hf, megatron);
        AssertGeneratesReferenceTokens(megatron, fixture);
    }

    [Fact]
    public void MtpLayerNameOutsideTheTwoNames_IsRefusedByTheCommandLine()
    {
        using var tmp = TestPaths.NewTempDir();
        var (code, _, error) = Run("import", "--hf-model", TestPaths.Fixture("qwen35-vl-dense-tiny"), "--megatron-path", tmp.Sub("mg"), "--mtp-layer-name", "mtp_layer");
        Assert.NotEqual(0, code);
        Assert.Contains("mtp_layer", error);
        Assert.False(Directory.Exists(tmp.Sub("mg")));
    }

    [Fact]
    public void Compare_ReadsEveryVariantAsItReadsTheDefaultImport()
    {
        // The fixture's GDN norms do not survive bf16(w - 1), so compare reports a difference (exit 1) for every
        // checkpoint; what matters is that each variant gives exactly the numbers of the default import.
        const string fixture = "qwen35-vl-moe-tiny";
        var hf = TestPaths.Fixture(fixture);
        using var tmp = TestPaths.NewTempDir();
        var noMtp = CopyWithoutMtp(fixture, tmp.Sub("hf-no-mtp"));
        var imports = new[]
        {
            new[] { "--hf-model", hf, "--megatron-path", tmp.Sub("default") },
            new[] { "--hf-model", hf, "--megatron-path", tmp.Sub("dist-mtp-model-layer"), "--mtp-layer-name", "mtp_model_layer" },
            new[] { "--hf-model", hf, "--megatron-path", tmp.Sub("legacy-variants"), "--format", "torch", "--tp", "2", "--ep", "2",
                "--no-grouped-gemm", "--mtp-layer-name", "transformer_layer" },
            new[] { "--hf-model", noMtp, "--megatron-path", tmp.Sub("no-mtp") },
        };
        foreach (var args in imports) Assert.Equal(0, Run(new[] { "import" }.Concat(args).ToArray()).ExitCode);
        var expected = Run("compare", "--hf-model", hf, "--megatron-path", tmp.Sub("default"));
        Assert.Contains("HF vs Megatron", expected.Output);
        foreach (var variant in new[] { "dist-mtp-model-layer", "legacy-variants", "no-mtp" })
        {
            var actual = Run("compare", "--hf-model", hf, "--megatron-path", tmp.Sub(variant));
            Assert.True(expected.ExitCode == actual.ExitCode, $"{variant}: {actual.Error}");
            Assert.Equal(expected.Output, actual.Output);
        }
    }

    // ---- 4. Sequential experts -----------------------------------------------------------------------------------

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public void LegacySequentialExpertsAtEp2Tp2_AreWrittenAsLocalExperts_ExportVerifyAndGenerate(int etp)
    {
        const string fixture = "qwen35-vl-moe-tiny";
        var hf = TestPaths.Fixture(fixture);
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("mg");
        var imported = RunJson("import", "--hf-model", hf, "--megatron-path", megatron, "--format", "torch", "--tp", "2", "--ep", "2", "--etp", etp.ToString(),
            "--no-grouped-gemm", "--json");
        Assert.True(imported["sequential_experts"]!.GetValue<bool>());
        var names = LegacyNames(Iteration(megatron));
        // SequentialMLP: one MLP per local expert, each TransformerEngine linear with its _extra_state; no grouped weights.
        Assert.Contains("language_model.decoder.layers.0.mlp.experts.local_experts.3.linear_fc1.weight", names);
        Assert.Contains("language_model.decoder.layers.0.mlp.experts.local_experts.3.linear_fc2._extra_state", names);
        Assert.Contains("language_model.mtp.layers.0.mtp_model_layer.mlp.experts.local_experts.0.linear_fc2.weight", names);
        Assert.DoesNotContain(names, n => n.Contains(".experts.linear_fc", StringComparison.Ordinal));
        // In SequentialMLP's state_dict order: expert by expert, each linear followed by its _extra_state.
        const string experts = "language_model.decoder.layers.0.mlp.experts.local_experts.";
        Assert.Equal(new[]
        {
            "0.linear_fc1.weight", "0.linear_fc1._extra_state", "0.linear_fc2.weight", "0.linear_fc2._extra_state",
            "1.linear_fc1.weight", "1.linear_fc1._extra_state", "1.linear_fc2.weight", "1.linear_fc2._extra_state",
        }, names.Where(n => n.StartsWith(experts, StringComparison.Ordinal)).Take(8).Select(n => n[experts.Length..]));
        var inspected = RunJson("inspect", "--megatron-path", megatron, "--json");
        Assert.Equal(new[] { "decoder: sequential", "mtp: sequential" }, inspected["expert_modules"]!.AsArray().Select(n => n!.GetValue<string>()));

        using (var hfCheckpoint = MegatronBridge.Formats.Safetensors.SafetensorsCheckpoint.Open(hf))
        using (var source = TorchLegacyExport.Open(MegatronBridge.Models.BridgeMappings.ForHfFolder(hf, hfCheckpoint).Mapping, Iteration(megatron)))
            Assert.Equal(new ParallelLayout(tp: 2, pp: 1, vpp: 1, ep: 2, etp: etp), source.Layout);
        RunJson("export", "--hf-model", hf, "--megatron-path", megatron, "--hf-path", tmp.Sub("out"), "--json");
        HfRoundTrip.AssertSameTensors(hf, tmp.Sub("out"), $"{fixture} sequential etp {etp}");
        AssertVerifies(hf, megatron);
        if (etp == 2) AssertGeneratesReferenceTokens(megatron, fixture);
    }

    [Fact]
    public void NoGroupedGemm_DoesNotChangeTorchDistKeys()
    {
        var hf = TestPaths.Fixture("qwen35-text-moe-tiny");
        using var tmp = TestPaths.NewTempDir();
        Assert.Equal(0, Run("import", "--hf-model", hf, "--megatron-path", tmp.Sub("grouped")).ExitCode);
        Assert.Equal(0, Run("import", "--hf-model", hf, "--megatron-path", tmp.Sub("sequential"), "--no-grouped-gemm").ExitCode);
        Assert.Equal(DistTensorKeys(Iteration(tmp.Sub("grouped"))), DistTensorKeys(Iteration(tmp.Sub("sequential"))));
    }
}
