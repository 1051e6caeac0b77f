using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// Damaged Hugging Face inputs given to <c>megatron-bridge import</c>: each is refused with exit 1, a message naming
/// the file and the tensor or field, and nothing left behind where the output would have gone.
/// </summary>
public class HostileImportTests
{
    private const string Embedding = "model.embed_tokens.weight";
    private const string DownProj = "model.layers.0.mlp.down_proj.weight";

    private static void AssertRefused(DamagedCheckpoint work, (int ExitCode, string Output, string Error) run, params string[] mentions)
    {
        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("import: ", run.Error);
        foreach (var m in mentions) Assert.Contains(m, run.Error);
        Assert.Empty(work.Leftovers());
    }

    [Fact]
    public void TruncatedSafetensorsIsRefused()
    {
        using var work = new DamagedCheckpoint();
        var bytes = File.ReadAllBytes(work.Safetensors);
        File.WriteAllBytes(work.Safetensors, bytes[..^100]);
        AssertRefused(work, work.Import(), work.Safetensors);
    }

    [Fact]
    public void TruncatedInsideTheHeaderIsRefused()
    {
        using var work = new DamagedCheckpoint();
        var bytes = File.ReadAllBytes(work.Safetensors);
        File.WriteAllBytes(work.Safetensors, bytes[..200]);
        AssertRefused(work, work.Import(), work.Safetensors);
    }

    [Theory]
    [InlineData(1UL << 40)]
    [InlineData(ulong.MaxValue)]
    public void HeaderLengthBeyondTheFileIsRefused(ulong declared)
    {
        using var work = new DamagedCheckpoint();
        var (header, data) = work.ReadSafetensors();
        work.WriteSafetensors(Encoding.UTF8.GetBytes(header.ToJsonString()), data, declared);
        AssertRefused(work, work.Import(), work.Safetensors, "header");
    }

    [Fact]
    public void HeaderLengthJustPastTheDataIsRefused()
    {
        using var work = new DamagedCheckpoint();
        var (header, data) = work.ReadSafetensors();
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        work.WriteSafetensors(json, data, (ulong)(json.Length + data.Length + 1));
        AssertRefused(work, work.Import(), work.Safetensors);
    }

    [Theory]
    [InlineData("{\"model.embed_tokens.weight\": {\"dtype\": \"BF16\",")]
    [InlineData("[1, 2, 3]")]
    [InlineData("\u00ff\u00fe not json")]
    public void InvalidHeaderJsonIsRefused(string header)
    {
        using var work = new DamagedCheckpoint();
        var (_, data) = work.ReadSafetensors();
        work.WriteSafetensors(Encoding.Latin1.GetBytes(header), data);
        AssertRefused(work, work.Import(), work.Safetensors);
    }

    [Fact]
    public void DuplicateTensorNameIsRefused()
    {
        using var work = new DamagedCheckpoint();
        var (header, data) = work.ReadSafetensors();
        var entry = header[Embedding]!.ToJsonString();
        var json = header.ToJsonString().Insert(1, $"\"{Embedding}\":{entry},");
        work.WriteSafetensors(Encoding.UTF8.GetBytes(json), data);
        AssertRefused(work, work.Import(), work.Safetensors, Embedding);
    }

    [Fact]
    public void OverlappingTensorOffsetsAreRefused()
    {
        using var work = new DamagedCheckpoint();
        work.EditSafetensorsHeader(h =>
        {
            // in_proj_a and in_proj_b have the same size: point a at b's bytes, leaving a hole where a was.
            h["model.layers.0.linear_attn.in_proj_a.weight"]!["data_offsets"] = h["model.layers.0.linear_attn.in_proj_b.weight"]!["data_offsets"]!.DeepClone();
        });
        AssertRefused(work, work.Import(), work.Safetensors, "model.layers.0.linear_attn.in_proj_");
    }

    [Fact]
    public void OffsetsPastTheDataAreRefused()
    {
        using var work = new DamagedCheckpoint();
        var (header, data) = work.ReadSafetensors();
        header["model.norm.weight"]!["data_offsets"] = new JsonArray(data.Length, data.Length + 128);
        work.WriteSafetensors(header, data);
        AssertRefused(work, work.Import(), work.Safetensors, "model.norm.weight");
    }

    [Fact]
    public void ShapeNotMatchingTheByteLengthIsRefused()
    {
        using var work = new DamagedCheckpoint();
        work.EditSafetensorsHeader(h => h[DownProj]!["shape"] = new JsonArray(64, 64));
        AssertRefused(work, work.Import(), work.Safetensors, DownProj);
    }

    [Fact]
    public void UnknownDTypeIsRefused()
    {
        using var work = new DamagedCheckpoint();
        work.EditSafetensorsHeader(h => h[DownProj]!["dtype"] = "BF17");
        AssertRefused(work, work.Import(), work.Safetensors, DownProj, "BF17");
    }

    [Fact]
    public void NegativeDimensionIsRefused()
    {
        using var work = new DamagedCheckpoint();
        work.EditSafetensorsHeader(h => h[DownProj]!["shape"] = new JsonArray(-64, -128));
        AssertRefused(work, work.Import(), work.Safetensors, DownProj);
    }

    [Fact]
    public void WrongShapeForTheProviderIsRefused()
    {
        using var work = new DamagedCheckpoint();
        // Same byte length, transposed: the file itself is consistent, the model is not.
        work.EditSafetensorsHeader(h => h[DownProj]!["shape"] = new JsonArray(128, 64));
        AssertRefused(work, work.Import(), DownProj, "[128, 64]");
    }

    [Fact]
    public void MissingTensorIsRefused()
    {
        using var work = new DamagedCheckpoint();
        var (header, data) = work.ReadSafetensors();
        header.Remove("model.norm.weight");
        // Keep the file consistent: drop the last tensor's bytes only when it is the last one; otherwise re-pack.
        var packed = Repack(header, data);
        work.WriteSafetensors(packed.Header, packed.Data);
        AssertRefused(work, work.Import(), "model.norm.weight");
    }

    [Fact]
    public void IndexNamingAMissingShardIsRefused()
    {
        using var work = new DamagedCheckpoint();
        var names = ShardIntoIndex(work, _ => "model-00001-of-00002.safetensors");
        File.Delete(Path.Combine(work.Input, "model-00001-of-00002.safetensors"));
        AssertRefused(work, work.Import(), "model-00001-of-00002.safetensors");
        Assert.NotEmpty(names);
    }

    [Theory]
    [InlineData("../../outside.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/model.safetensors")]
    public void IndexNamingAPathOutsideTheFolderIsRefused(string shard)
    {
        using var work = new DamagedCheckpoint();
        ShardIntoIndex(work, name => name == "model.norm.weight" ? shard : "model-00001-of-00001.safetensors");
        AssertRefused(work, work.Import(), "model.safetensors.index.json", shard);
    }

    [Fact]
    public void InvalidIndexJsonIsRefused()
    {
        using var work = new DamagedCheckpoint();
        ShardIntoIndex(work, _ => "model-00001-of-00001.safetensors");
        File.WriteAllText(Path.Combine(work.Input, "model.safetensors.index.json"), "{\"weight_map\": {\"a\": ");
        AssertRefused(work, work.Import(), "model.safetensors.index.json");
    }

    [Fact]
    public void InvalidConfigJsonIsRefused()
    {
        using var work = new DamagedCheckpoint();
        File.WriteAllText(work.Config, "{\"hidden_size\": 64,");
        AssertRefused(work, work.Import(), "config.json");
    }

    [Fact]
    public void MissingConfigIsRefused()
    {
        using var work = new DamagedCheckpoint();
        File.Delete(work.Config);
        AssertRefused(work, work.Import(), "config.json");
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("num_attention_heads")]
    [InlineData("vocab_size")]
    public void ConfigMissingARequiredFieldIsRefused(string field)
    {
        using var work = new DamagedCheckpoint();
        work.EditConfig(c => c.Remove(field));
        AssertRefused(work, work.Import(), "config.json", field);
    }

    [Theory]
    [InlineData("num_key_value_heads", 3, "num_key_value_heads")]
    [InlineData("num_hidden_layers", 7, "layer_types")]
    [InlineData("num_hidden_layers", -1, "num_hidden_layers")]
    [InlineData("hidden_size", 0, "hidden_size")]
    [InlineData("vocab_size", -5, "vocab_size")]
    [InlineData("linear_num_key_heads", 3, "linear_num_key_heads")]
    [InlineData("linear_value_head_dim", int.MaxValue, "impossible tensor shape")]
    public void ConfigWithImpossibleValuesIsRefused(string field, int value, string mention)
    {
        using var work = new DamagedCheckpoint();
        work.EditConfig(c => c[field] = value);
        AssertRefused(work, work.Import(), "config.json", mention);
    }

    [Fact]
    public void VisionHeadsNotDividingTheHiddenSizeAreRefused()
    {
        using var work = new DamagedCheckpoint("qwen35-vl-dense-tiny");
        work.EditConfig(c => c["vision_config"]!["num_heads"] = 7);
        AssertRefused(work, work.Import(), "config.json", "vision_config", "num_heads");
    }

    [Fact]
    public void ImplausibleVisionDepthIsRefusedInsteadOfPlanningForever()
    {
        using var work = new DamagedCheckpoint("qwen35-vl-dense-tiny");
        work.EditConfig(c => c["vision_config"]!["depth"] = int.MaxValue);
        AssertRefused(work, work.Import(), "config.json", "depth", "implausibly large");
    }

    [Fact]
    public void ImplausibleExpertCountIsRefused()
    {
        using var work = new DamagedCheckpoint("qwen35-text-moe-tiny");
        work.EditConfig(c => c["num_experts"] = 1 << 20);
        AssertRefused(work, work.Import(), "config.json", "experts", "implausibly large");
    }

    [Fact]
    public void TextConfigMissingARequiredFieldIsRefused()
    {
        using var work = new DamagedCheckpoint("qwen35-vl-dense-tiny");
        work.EditConfig(c => ((System.Text.Json.Nodes.JsonObject)c["text_config"]!).Remove("num_hidden_layers"));
        AssertRefused(work, work.Import(), "config.json", "text_config", "num_hidden_layers");
    }

    [Fact]
    public void ConfigWithAWrongTypeIsRefused()
    {
        using var work = new DamagedCheckpoint();
        work.EditConfig(c => c["hidden_size"] = "sixty-four");
        AssertRefused(work, work.Import(), "config.json", "hidden_size");
    }

    [Fact]
    public void LayerTypesShorterThanTheLayersIsRefused()
    {
        using var work = new DamagedCheckpoint();
        work.EditConfig(c => ((JsonArray)c["layer_types"]!).RemoveAt(0));
        AssertRefused(work, work.Import(), "config.json", "layer_types");
    }

    [Fact]
    public void UnknownLayerTypeIsRefused()
    {
        using var work = new DamagedCheckpoint();
        work.EditConfig(c => c["layer_types"]![2] = "sliding_attention");
        AssertRefused(work, work.Import(), "config.json", "layer_types[2]");
    }

    [Fact]
    public void NonFiniteWeightsWarnButConvert()
    {
        using var work = new DamagedCheckpoint();
        var (header, data) = work.ReadSafetensors();
        var start = (int)header[DownProj]!["data_offsets"]![0]!.GetValue<long>();
        data[start] = 0xC0; data[start + 1] = 0x7F;     // bf16 NaN
        data[start + 2] = 0x80; data[start + 3] = 0x7F; // bf16 +Inf
        data[start + 4] = 0x80; data[start + 5] = 0xFF; // bf16 -Inf
        work.WriteSafetensors(header, data);
        var run = work.Import();
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("warning", run.Error);
        Assert.Contains(DownProj, run.Error);
        Assert.Contains("1 NaN", run.Error);
        Assert.Contains("2 Inf", run.Error);
        Assert.DoesNotContain("model.embed_tokens.weight", run.Error);
        Assert.True(File.Exists(Path.Combine(work.Output, "latest_checkpointed_iteration.txt")));
    }

    /// <summary>Moves model.safetensors to a shard file and writes an index assigning each tensor with <paramref name="shardOf"/>.</summary>
    private static List<string> ShardIntoIndex(DamagedCheckpoint work, Func<string, string> shardOf)
    {
        var (header, _) = work.ReadSafetensors();
        File.Move(work.Safetensors, Path.Combine(work.Input, "model-00001-of-00001.safetensors"));
        var names = header.Select(p => p.Key).Where(k => k != "__metadata__").ToList();
        var map = new JsonObject();
        foreach (var name in names) map[name] = shardOf(name);
        File.WriteAllText(Path.Combine(work.Input, "model.safetensors.index.json"),
            new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        return names;
    }

    /// <summary>Rebuilds a consistent data section for the tensors left in <paramref name="header"/>.</summary>
    private static (JsonObject Header, byte[] Data) Repack(JsonObject header, byte[] data)
    {
        var output = new MemoryStream();
        var result = new JsonObject();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__") { result[name] = node!.DeepClone(); continue; }
            var begin = (int)node!["data_offsets"]![0]!.GetValue<long>();
            var end = (int)node["data_offsets"]![1]!.GetValue<long>();
            var start = output.Length;
            output.Write(data, begin, end - begin);
            var entry = (JsonObject)node.DeepClone();
            entry["data_offsets"] = new JsonArray(start, output.Length);
            result[name] = entry;
        }
        return (result, output.ToArray());
    }
}
