using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>
/// export writes the dtype config.json declares (bfloat16 for every fixture), whatever the Megatron checkpoint stores;
/// <c>--torch-dtype</c> overrides it and the written config.json then says so.
/// </summary>
public class ExportDtypeTests
{
    private const string Fixture = "qwen35-vl-dense-tiny";

    public static IEnumerable<object[]> Formats() => new[]
    {
        new object[] { MegatronFormat.TorchDist, 1 },
        new object[] { MegatronFormat.Torch, 2 },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void Float32ImportExportsBackToTheFixturesBf16Bytes(MegatronFormat format, int tp)
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = TestPaths.Fixture(Fixture);
        var imported = CheckpointConverter.Import(new ImportRequest(hf, tmp.Sub("mg"))
            { ParamDType = DType.F32, Format = format, Layout = new ParallelLayout(tp: tp) });
        var (code, _, error) = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", imported.MegatronPath);
        Assert.True(code == 0, error);

        var exported = CheckpointConverter.Export(new ExportRequest(hf, imported.MegatronPath, tmp.Sub("hf")));
        Assert.Equal(DType.BF16, exported.WrittenDType);
        using var original = SafetensorsCheckpoint.Open(hf);
        using var roundTrip = SafetensorsCheckpoint.Open(exported.HfPath);
        Assert.Equal(original.Tensors.Select(t => t.ToString()), roundTrip.Tensors.Select(t => t.ToString()));
        foreach (var t in original.Tensors)
        {
            // Every tensor, the GDN norm too: float32 holds bf16(w) - 1 exactly, so + 1 gives w back.
            Assert.True(original.ReadAll(t.Name).AsSpan().SequenceEqual(roundTrip.ReadAll(t.Name)), $"{format}: {t.Name} differs");
        }
        // The copied config.json is already right: left byte for byte.
        Assert.Equal(File.ReadAllBytes(Path.Combine(hf, "config.json")), File.ReadAllBytes(Path.Combine(exported.HfPath, "config.json")));
    }

    [Fact]
    public void TorchDtypeOverridesAndConfigSaysWhatWasWritten()
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = TestPaths.Fixture(Fixture);
        var megatron = tmp.Sub("mg");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron);
        Assert.True(code == 0, error);
        var output = tmp.Sub("hf32");
        (code, var json, error) = CliRunner.Run("export", "--hf-model", hf, "--megatron-path", megatron, "--hf-path", output, "--torch-dtype", "float32", "--json");
        Assert.True(code == 0, error);
        Assert.Equal("float32", (string?)JsonNode.Parse(json)!["dtype"]);

        using var original = SafetensorsCheckpoint.Open(hf);
        using var written = SafetensorsCheckpoint.Open(output);
        foreach (var t in original.Tensors)
        {
            if (t.Name.EndsWith("linear_attn.norm.weight", StringComparison.Ordinal)) continue; // stored as bf16(w - 1)
            var meta = written.Tensors.Single(w => w.Name == t.Name);
            Assert.Equal(DType.F32, meta.DType);
            // bf16 -> float32 widening: the 16 bits become the high half of the float.
            var bf16 = original.ReadAll(t.Name);
            var f32 = written.ReadAll(t.Name);
            for (int i = 0; i < bf16.Length / 2; i++)
                Assert.Equal((uint)BitConverter.ToUInt16(bf16, 2 * i) << 16, BitConverter.ToUInt32(f32, 4 * i));
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "config.json")))!.AsObject();
        Assert.Equal("float32", (string?)config["dtype"]);
        // The source's text_config has no dtype field: none is added there.
        Assert.False(config["text_config"]!.AsObject().ContainsKey("dtype"));
        Assert.Equal(1024, (int)config["text_config"]!["vocab_size"]!);
    }

    [Fact]
    public void RestateSetsTheFieldsTheSourceHasAtEveryLevel()
    {
        var config = JsonNode.Parse("""{"torch_dtype": "bfloat16", "text_config": {"dtype": "bfloat16", "x": 1}, "vision_config": {"depth": 2}}""")!.AsObject();
        Assert.True(ExportedConfigDtype.Restate(config, DType.F16));
        Assert.Equal("float16", (string?)config["torch_dtype"]);
        Assert.False(config.ContainsKey("dtype"));
        Assert.Equal("float16", (string?)config["text_config"]!["dtype"]);
        Assert.False(config["vision_config"]!.AsObject().ContainsKey("dtype"));
        Assert.False(ExportedConfigDtype.Restate(config, DType.F16));

        var bare = JsonNode.Parse("""{"architectures": ["Qwen3_5ForCausalLM"]}""")!.AsObject();
        Assert.True(ExportedConfigDtype.Restate(bare, DType.BF16));
        Assert.Equal("bfloat16", (string?)bare["dtype"]);
    }
}
