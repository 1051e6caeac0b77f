using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MegatronBridge.Tests.Jobs;

/// <summary>
/// An FP8 release built from the bf16 MoE fixture (import, then <c>export --quantize fp8</c>), once for the class.
/// </summary>
public sealed class Fp8ReleaseFixture : IDisposable
{
    public const string Source = "qwen35-vl-moe-tiny";

    public Fp8ReleaseFixture()
    {
        var bf16 = CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture(Source), Dir.Sub("bf16-mg")));
        Bf16Megatron = bf16.MegatronPath;
        Release = CheckpointConverter.Export(new ExportRequest(TestPaths.Fixture(Source), Bf16Megatron, Dir.Sub("fp8"))
        {
            Quantize = ExportQuantization.Fp8,
        }).HfPath;
    }

    public TempDir Dir { get; } = TestPaths.NewTempDir();
    public string Bf16Megatron { get; }
    public string Release { get; }

    public void Dispose() => Dir.Dispose();
}

public class Fp8ReleaseTests(Fp8ReleaseFixture fixture, ITestOutputHelper output) : IClassFixture<Fp8ReleaseFixture>
{
    private static JsonObject Config(string folder) => JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();

    [Fact]
    public void Quantized_export_writes_the_release_layout()
    {
        using var original = SafetensorsCheckpoint.Open(TestPaths.Fixture(Fp8ReleaseFixture.Source));
        using var release = SafetensorsCheckpoint.Open(fixture.Release);
        string[] quantized =
        {
            "model.language_model.layers.0.linear_attn.in_proj_qkv.weight", "model.language_model.layers.0.linear_attn.out_proj.weight",
            "model.language_model.layers.0.mlp.experts.3.down_proj.weight", "model.language_model.layers.0.mlp.shared_expert.up_proj.weight",
            "model.language_model.layers.3.self_attn.q_proj.weight", "mtp.layers.0.self_attn.o_proj.weight",
        };
        string[] kept =
        {
            "lm_head.weight", "model.language_model.embed_tokens.weight", "model.language_model.layers.0.linear_attn.in_proj_a.weight",
            "model.language_model.layers.0.linear_attn.in_proj_b.weight", "model.language_model.layers.0.linear_attn.conv1d.weight",
            "model.language_model.layers.0.linear_attn.A_log", "model.language_model.layers.0.mlp.gate.weight",
            "model.language_model.layers.0.mlp.shared_expert_gate.weight", "model.language_model.norm.weight",
            "model.visual.blocks.0.attn.qkv.weight", "mtp.fc.weight",
        };
        foreach (var name in quantized)
        {
            var weight = release.Get(name);
            Assert.Equal(DType.F8E4M3, weight.DType);
            Assert.Equal(original.Get(name).Shape, weight.Shape);
            var scale = release.Get(name + "_scale_inv");
            Assert.Equal(DType.BF16, scale.DType);
            Assert.Equal(new TensorShape((weight.Shape[0] + 127) / 128, (weight.Shape[1] + 127) / 128), scale.Shape);
        }
        foreach (var name in kept)
        {
            Assert.Equal(original.Get(name), release.Get(name));
            Assert.False(release.Contains(name + "_scale_inv"), name);
            Assert.Equal(original.ReadAll(name), release.ReadAll(name));
        }
        Assert.All(release.Tensors.Where(t => t.DType == DType.F8E4M3), t => Assert.Equal(2, t.Shape.Rank));

        var q = Config(fixture.Release)["quantization_config"]!.AsObject();
        Assert.Equal("fp8", (string)q["quant_method"]!);
        Assert.Equal("e4m3", (string)q["fmt"]!);
        Assert.Equal("dynamic", (string)q["activation_scheme"]!);
        Assert.Equal(new[] { 128, 128 }, q["weight_block_size"]!.AsArray().Select(n => (int)n!));
        var notConverted = q["modules_to_not_convert"]!.AsArray().Select(n => (string)n!).ToList();
        Assert.Contains("lm_head", notConverted);
        Assert.Contains("model.language_model.layers.0.mlp.gate", notConverted);
        Assert.DoesNotContain("model.language_model.layers.0.linear_attn.out_proj", notConverted);
    }

    [Theory]
    [InlineData("torch_dist")]
    [InlineData("torch")]
    public void Fp8_release_imports_and_verifies_against_its_dequantised_values(string format)
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(fixture.Release, tmp.Sub("mg"))
        {
            Format = format == "torch" ? MegatronFormat.Torch : MegatronFormat.TorchDist,
            Layout = format == "torch" ? new ParallelLayout(tp: 2, pp: 2, ep: 2) : ParallelLayout.Single,
        });
        Assert.Empty(imported.NonFinite);
        var verified = CheckpointVerifier.Verify(fixture.Release, imported.MegatronPath);
        Assert.True(verified.Matches, string.Join(", ", verified.Differences.Select(d => d.ToString())));
        Assert.NotEmpty(verified.Tensors);

        // The Megatron checkpoint holds bf16 values: an export of it is the release dequantised, and a plain export
        // of an FP8 --hf-model carries no quantization_config.
        var exported = CheckpointConverter.Export(new ExportRequest(fixture.Release, imported.MegatronPath, tmp.Sub("hf")));
        Assert.Null(Config(exported.HfPath)["quantization_config"]);
        Assert.Equal(Config(fixture.Release)["text_config"]!.ToJsonString(), Config(exported.HfPath)["text_config"]!.ToJsonString());
        using var release = SafetensorsCheckpoint.Open(fixture.Release);
        var dequantised = HfWeights.Dequantized(release, fixture.Release);
        using var plain = SafetensorsCheckpoint.Open(exported.HfPath);
        Assert.Equal(dequantised.Tensors.Select(t => t.ToString()).Order(), plain.Tensors.Select(t => t.ToString()).Order());
        Assert.DoesNotContain(plain.Tensors, t => t.DType == DType.F8E4M3 || t.Name.EndsWith("_scale_inv", StringComparison.Ordinal));
        foreach (var t in plain.Tensors.Where(t => !t.Name.EndsWith("linear_attn.norm.weight", StringComparison.Ordinal)))
            Assert.True(dequantised.ReadAll(t.Name).AsSpan().SequenceEqual(plain.ReadAll(t.Name)), $"{t.Name} differs from its dequantised value");
    }

    [Fact]
    public void Import_to_float32_keeps_the_unrounded_products()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(fixture.Release, tmp.Sub("mg")) { ParamDType = DType.F32 });
        using var release = SafetensorsCheckpoint.Open(fixture.Release);
        var name = "model.language_model.layers.0.linear_attn.out_proj.weight";
        var fp8 = release.ReadAll(name);
        var scale = ElementConvert.ReadFloats(release, name + "_scale_inv");
        using var mg = MegatronBridge.Formats.TorchDist.TorchDistCheckpoint.Open(imported.IterationFolder);
        var stored = ElementConvert.ReadFloats(mg, "language_model.decoder.layers.0.self_attention.out_proj.weight");
        Assert.Equal(fp8.Length, stored.Length);
        for (int i = 0; i < fp8.Length; i++)
            Assert.Equal(Float8E4M3.ToSingle(fp8[i]) * scale[0], stored[i]);
    }

    [Fact]
    public void Fp8_release_logits_stay_close_to_the_bf16_models()
    {
        // FP8 keeps 3 mantissa bits; on the fixture's random weights that moves logits of size ~1-3 by about 0.06 on
        // average. Tolerance: max |d| <= 0.5 and mean |d| <= 0.1 against transformers' bf16 logits.
        var folder = TestPaths.Fixture(Fp8ReleaseFixture.Source);
        using var model = ReferenceModel.LoadHf(fixture.Release);
        using var bf16 = ReferenceModel.LoadHf(folder);
        foreach (var c in ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)))
        {
            var fp8 = CaseComparison.Run(model, c);
            var exact = CaseComparison.Run(bf16, c);
            output.WriteLine($"{c.Name}: fp8 max {fp8.Logits.MaxAbs:E3} mean {fp8.Logits.MeanAbs:E3}; bf16 max {exact.Logits.MaxAbs:E3}");
            Assert.True(fp8.Logits.MaxAbs <= 0.5, $"{c.Name}: max |d| {fp8.Logits.MaxAbs}");
            Assert.True(fp8.Logits.MeanAbs <= 0.1, $"{c.Name}: mean |d| {fp8.Logits.MeanAbs}");
            Assert.True(fp8.Logits.MeanAbs > exact.Logits.MeanAbs, "the FP8 model must differ from the bf16 one");
        }
    }

    [Fact]
    public void Quantized_export_of_an_fp8_release_keeps_its_tensor_set_and_config()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(fixture.Release, tmp.Sub("mg")));
        var again = CheckpointConverter.Export(new ExportRequest(fixture.Release, imported.MegatronPath, tmp.Sub("hf")) { Quantize = ExportQuantization.Fp8 });
        using var release = SafetensorsCheckpoint.Open(fixture.Release);
        using var copy = SafetensorsCheckpoint.Open(again.HfPath);
        Assert.Equal(release.Tensors.Select(t => t.ToString()).Order(), copy.Tensors.Select(t => t.ToString()).Order());
        Assert.Equal(Config(fixture.Release)["quantization_config"]!.ToJsonString(), Config(again.HfPath)["quantization_config"]!.ToJsonString());
    }

    [Fact]
    public void Packed_experts_are_written_per_expert_in_fp8_and_import_back()
    {
        // Qwen3.6's bf16 layout packs experts ([E, 2I, H] gate_up_proj, [E, H, I] down_proj); its FP8 releases do not.
        const string packed = "qwen36-vl-moe-packed-tiny";
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture(packed);
        var bf16 = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("bf16")));
        var release = CheckpointConverter.Export(new ExportRequest(hfDir, bf16.MegatronPath, tmp.Sub("fp8")) { Quantize = ExportQuantization.Fp8 }).HfPath;
        using (var original = SafetensorsCheckpoint.Open(hfDir))
        using (var written = SafetensorsCheckpoint.Open(release))
        {
            var gateUp = original.Get("model.language_model.layers.0.mlp.experts.gate_up_proj");
            long experts = gateUp.Shape[0], inter = gateUp.Shape[1] / 2, hidden = gateUp.Shape[2];
            Assert.False(written.Contains(gateUp.Name));
            Assert.False(written.Contains("model.language_model.layers.0.mlp.experts.down_proj"));
            for (long e = 0; e < experts; e++)
            {
                Assert.Equal(new TensorMeta($"model.language_model.layers.0.mlp.experts.{e}.gate_proj.weight", DType.F8E4M3, new TensorShape(inter, hidden)),
                    written.Get($"model.language_model.layers.0.mlp.experts.{e}.gate_proj.weight"));
                Assert.Equal(new TensorMeta($"model.language_model.layers.0.mlp.experts.{e}.down_proj.weight", DType.F8E4M3, new TensorShape(hidden, inter)),
                    written.Get($"model.language_model.layers.0.mlp.experts.{e}.down_proj.weight"));
                Assert.True(written.Contains($"model.language_model.layers.0.mlp.experts.{e}.up_proj.weight_scale_inv"));
            }
        }
        var imported = CheckpointConverter.Import(new ImportRequest(release, tmp.Sub("mg"))
        {
            Format = MegatronFormat.Torch,
            Layout = new ParallelLayout(tp: 2, ep: 2),
        });
        var verified = CheckpointVerifier.Verify(release, imported.MegatronPath);
        Assert.True(verified.Matches, string.Join(", ", verified.Differences.Select(d => d.ToString())));
        using var model = ReferenceModel.LoadHf(release);
        foreach (var c in ReferenceOutputs.Load(Path.Combine(hfDir, ReferenceOutputs.FileName)))
        {
            var fp8 = CaseComparison.Run(model, c);
            output.WriteLine($"{packed} {c.Name}: fp8 max {fp8.Logits.MaxAbs:E3} mean {fp8.Logits.MeanAbs:E3}");
            Assert.True(fp8.Logits.MaxAbs <= 0.5 && fp8.Logits.MeanAbs <= 0.1, $"{c.Name}: max |d| {fp8.Logits.MaxAbs}, mean {fp8.Logits.MeanAbs}");
        }
    }

    [Fact]
    public void Zero_and_negative_scales_are_reported_with_their_file_and_tensor()
    {
        using var tmp = TestPaths.NewTempDir();
        var broken = tmp.Sub("broken");
        Directory.CreateDirectory(broken);
        foreach (var f in Directory.GetFiles(fixture.Release)) File.Copy(f, Path.Combine(broken, Path.GetFileName(f)));
        var zero = "model.language_model.layers.0.linear_attn.out_proj.weight_scale_inv";
        var negative = "model.language_model.layers.0.mlp.experts.1.up_proj.weight_scale_inv";
        string file;
        using (var checkpoint = SafetensorsCheckpoint.Open(broken))
        {
            file = Path.Combine(broken, checkpoint.FileOf(zero));
            var f = checkpoint.Files.Single(x => x.ByName.ContainsKey(zero));
            var patches = new[] { (f.DataOffset + f.ByName[zero].DataStart, new byte[] { 0, 0 }), (f.DataOffset + f.ByName[negative].DataStart, new byte[] { 0x80, 0xBF }) };
            checkpoint.Dispose();
            using var stream = new FileStream(f.Path, FileMode.Open, FileAccess.Write);
            foreach (var (at, bytes) in patches)
            {
                stream.Position = at;
                stream.Write(bytes);
            }
        }
        var (exitCode, _, error) = MegatronBridge.Tests.Cli.CliRunner.Run("import", "--hf-model", broken, "--megatron-path", tmp.Sub("mg"));
        Assert.Equal(0, exitCode);
        Assert.Contains($"import: warning: {file}: FP8 scale tensor {zero}: 1 scale(s) NaN, infinite, zero or negative", error);
        Assert.Contains($"FP8 scale tensor {negative}: 1 scale(s)", error);
        var fromApi = CheckpointConverter.Import(new ImportRequest(broken, tmp.Sub("mg2")) { Format = MegatronFormat.Torch, Layout = new ParallelLayout(tp: 2, ep: 2) });
        Assert.Equal(new[] { (zero, 1L), (negative, 1L) }.OrderBy(x => x.Item1), fromApi.OutOfRangeScales.Select(s => (s.Tensor, s.Count)).OrderBy(x => x.Item1));
    }

    [Fact]
    public void A_non_finite_scale_is_reported_like_a_non_finite_weight()
    {
        using var tmp = TestPaths.NewTempDir();
        var broken = tmp.Sub("broken");
        Directory.CreateDirectory(broken);
        foreach (var f in Directory.GetFiles(fixture.Release)) File.Copy(f, Path.Combine(broken, Path.GetFileName(f)));
        var name = "model.language_model.layers.0.linear_attn.out_proj.weight";
        string path;
        long at;
        using (var checkpoint = SafetensorsCheckpoint.Open(broken))
        {
            var file = checkpoint.Files.Single(f => f.ByName.ContainsKey(name + "_scale_inv"));
            path = file.Path;
            at = file.DataOffset + file.ByName[name + "_scale_inv"].DataStart;
        }
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            stream.Position = at;
            stream.Write(new byte[] { 0x80, 0x7F }); // bf16 +Inf
        }
        var imported = CheckpointConverter.Import(new ImportRequest(broken, tmp.Sub("mg")));
        var found = Assert.Single(imported.NonFinite);
        Assert.Equal(name + "_scale_inv", Assert.Single(imported.OutOfRangeScales).Tensor);
        Assert.Equal(name, found.Count.Tensor);
        Assert.True(found.Count.NaN + found.Count.Infinity > 0);
        Assert.StartsWith(broken, found.File);
    }
}
