using Xunit;
using System.Text.Json.Nodes;
using MegatronBridge.Benchmarks;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;

namespace MegatronBridge.Tests.Benchmarks;

[Collection(ProcessWideCounters.Name)]
public class BenchSynthesizerTests
{
    /// <summary>The 397B-A17B config shrunk so that one layer is a few hundred KB, keeping its structure.</summary>
    private static JsonObject ShrunkConfig(int layers)
    {
        var config = BenchPreset.CutLayers(BenchPreset.Find("397b-a17b").LoadConfig(), layers);
        var text = (JsonObject)config["text_config"]!;
        text["hidden_size"] = 64L;
        text["vocab_size"] = 128L;
        text["num_experts"] = 4L;
        text["num_experts_per_tok"] = 2L;
        text["moe_intermediate_size"] = 16L;
        text["shared_expert_intermediate_size"] = 32L;
        text["linear_key_head_dim"] = 8L;
        text["linear_value_head_dim"] = 8L;
        var vision = (JsonObject)config["vision_config"]!;
        vision["hidden_size"] = 32L;
        vision["intermediate_size"] = 48L;
        vision["out_hidden_size"] = 64L;
        vision["num_position_embeddings"] = 16L;
        return config;
    }

    [Fact]
    public void CutLayers_KeepsTheLastLayersAndTheirTypes()
    {
        var real = BenchPreset.Find("397b-a17b").LoadConfig();
        var cut = BenchPreset.CutLayers(real, 2);
        var text = (JsonObject)cut["text_config"]!;
        Assert.Equal(2, text["num_hidden_layers"]!.GetValue<long>());
        Assert.Equal(new[] { "linear_attention", "full_attention" }, ((JsonArray)text["layer_types"]!).Select(t => t!.GetValue<string>()));
        Assert.Equal(2, cut["vision_config"]!["depth"]!.GetValue<long>());
        // The real config is left as it was.
        Assert.Equal(60, real["text_config"]!["num_hidden_layers"]!.GetValue<int>());
    }

    [Fact]
    public void Synthesised_Checkpoint_HasTheRealTensorLayout_AndNonConstantBytes()
    {
        using var dir = new TempDir();
        var config = ShrunkConfig(1);
        long bytes = BenchSynthesizer.Write(config, dir.Path);

        using var checkpoint = SafetensorsCheckpoint.Open(dir.Path);
        var byName = checkpoint.Tensors.ToDictionary(t => t.Name);
        Assert.Equal(bytes, checkpoint.Tensors.Sum(t => t.ByteLength));
        Assert.All(checkpoint.Tensors, t => Assert.Equal(DType.BF16, t.DType));
        // Packed experts as Qwen3.5 ships them; gated attention q_proj; GDN projections; 1 layer = full attention.
        Assert.Equal(new TensorShape(4, 32, 64), byName["model.language_model.layers.0.mlp.experts.gate_up_proj"].Shape);
        Assert.Equal(new TensorShape(4, 64, 16), byName["model.language_model.layers.0.mlp.experts.down_proj"].Shape);
        Assert.Equal(new TensorShape(32L * 256 * 2, 64), byName["model.language_model.layers.0.self_attn.q_proj.weight"].Shape);
        Assert.Equal(new TensorShape(128, 64), byName["model.language_model.embed_tokens.weight"].Shape);
        Assert.Contains("mtp.layers.0.mlp.experts.gate_up_proj", byName.Keys);
        Assert.Contains("model.visual.blocks.0.attn.qkv.weight", byName.Keys);
        Assert.DoesNotContain("model.visual.blocks.1.attn.qkv.weight", byName.Keys);

        var embed = new byte[byName["model.language_model.embed_tokens.weight"].ByteLength];
        checkpoint.Read("model.language_model.embed_tokens.weight", 0, embed);
        Assert.True(embed.Distinct().Count() > 200, "the filler must not be constant");

        var written = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "config.json")))!;
        Assert.Equal(1, written["text_config"]!["num_hidden_layers"]!.GetValue<int>());
    }

    [Fact]
    public void Synthesised_Checkpoint_ImportsAndExportsByteExact()
    {
        using var dir = new TempDir();
        string hf = Path.Combine(dir.Path, "hf");
        BenchSynthesizer.Write(ShrunkConfig(2), hf);
        string dist = Path.Combine(dir.Path, "dist"), back = Path.Combine(dir.Path, "back");
        MegatronBridge.Jobs.CheckpointConverter.Import(new(hf, dist));
        var exported = MegatronBridge.Jobs.CheckpointConverter.Export(new(hf, dist, back));
        // Norms stored as w-1 in Megatron go through float (x+1-1) and are reported lossy for random bytes; the rest is a copy.
        var lossy = exported.LossyTensors.ToHashSet();
        Assert.True(lossy.Count < 12, string.Join(", ", lossy));
        using var a = SafetensorsCheckpoint.Open(hf);
        using var b = SafetensorsCheckpoint.Open(back);
        Assert.Equal(a.Tensors.Select(t => t.Name).Order(), b.Tensors.Select(t => t.Name).Order());
        foreach (var t in a.Tensors.Where(t => !lossy.Contains(t.Name)))
        {
            var x = new byte[t.ByteLength];
            var y = new byte[t.ByteLength];
            a.Read(t.Name, 0, x);
            b.Read(t.Name, 0, y);
            Assert.True(x.AsSpan().SequenceEqual(y), t.Name);
        }
    }

    [Fact]
    public void Synthesised_Values_AreFiniteBf16OfWeightMagnitude()
    {
        var bytes = new byte[4099]; // an odd tail too
        ulong state = 7;
        BenchSynthesizer.Fill(bytes, ref state);
        var values = new float[bytes.Length / 2];
        ElementConvert.ToSingle(bytes.AsSpan(0, values.Length * 2), DType.BF16, values);
        Assert.All(values, v => Assert.InRange(Math.Abs(v), 1f / 128, 1f / 32));
        Assert.Contains(values, v => v < 0);
        Assert.True(values.Distinct().Count() > 200, "the filler must not be constant");
    }

    [Fact]
    public void CompareRunsHfAndMegatronSideBySide_OnTheSynthesisedCheckpoint()
    {
        using var dir = new TempDir();
        string hf = Path.Combine(dir.Path, "hf"), dist = Path.Combine(dir.Path, "dist");
        var config = ShrunkConfig(2);
        config["vision_config"]!["num_heads"] = 4L; // the vision rotary embedding needs a head dim divisible by 4
        long checkpointBytes = BenchSynthesizer.Write(config, hf);
        MegatronBridge.Jobs.CheckpointConverter.Import(new(hf, dist));

        var (bytesRead, summary) = BenchCompare.Run(hf, dist);

        // Both models read their layers, embedding rows and output layer; neither reads everything (4 experts, top 2 of
        // 8 tokens may well use all four, but the embedding is read for 8 of its 128 rows).
        Assert.InRange(bytesRead, checkpointBytes / 2, 2 * checkpointBytes);
        // The synthetic GDN norms do not survive bf16(w - 1), so the forwards part at the first GDN layer's mixer.
        Assert.Contains("decoder layer 0, GDN mixer", summary);
    }

    [Fact]
    public void UnknownPreset_IsNamed()
    {
        var e = Assert.Throws<InvalidInputException>(() => BenchPreset.Find("7b"));
        Assert.Contains("7b", e.Message);
        Assert.Contains("397b-a17b", e.Message);
    }
}
