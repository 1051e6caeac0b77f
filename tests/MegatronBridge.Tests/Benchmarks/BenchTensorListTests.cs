using System.Text.Json.Nodes;
using MegatronBridge.Benchmarks;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Benchmarks;

/// <summary>
/// The bench's tensor list against counts and shapes worked out by hand from the real config.json texts
/// (tests/fixtures/real-configs), not from the code that derives the list.
/// </summary>
public class BenchTensorListTests
{
    private static JsonObject Config(string preset, bool mtp = true)
    {
        var config = BenchPreset.Find(preset).LoadConfig();
        if (!mtp) ((JsonObject)config["text_config"]!)["mtp_num_hidden_layers"] = 0L;
        return config;
    }

    [Fact]
    public void Qwen35_35bA3b_CountAndShapes_FromTheConfigText()
    {
        // 40 layers, full attention every 4th: 30 GDN layers of 10 tensors (input norm, A_log, conv1d, dt_bias,
        // in_proj_a/b/qkv/z, norm, out_proj) and 10 attention layers of 7 (input norm, q/k/v/o_proj, q/k_norm), each
        // with an MoE MLP of 8 (post-attention norm, packed down / gate_up, router, shared expert gate/up/down, shared
        // expert gate): 30 x 18 + 10 x 15 = 690; embedding, final norm, lm_head (not tied): 3; vision: 27 blocks of 12
        // (qkv, proj, fc1, fc2 weight + bias, norm1/2 weight + bias), merger 6, patch embed 2, position embedding 1:
        // 333; MTP: fc, norm, two pre-fc norms and one attention layer with its MoE MLP: 4 + 15 = 19.
        var tensors = BenchTensorList.FromConfig(Config("35b-a3b"));
        Assert.Equal(690 + 3 + 333 + 19, tensors.Count);
        Assert.Equal(tensors.Count, tensors.Select(t => t.Name).Distinct().Count());
        Assert.All(tensors, t => Assert.Equal(DType.BF16, t.DType));
        var shape = tensors.ToDictionary(t => t.Name, t => t.Shape);

        // vocab_size 248320, hidden_size 2048.
        Assert.Equal(new TensorShape(248320, 2048), shape["model.language_model.embed_tokens.weight"]);
        Assert.Equal(new TensorShape(248320, 2048), shape["lm_head.weight"]);
        // GDN: 16 key heads x 128 for q and k, 32 value heads x 128 for v: 2048 + 2048 + 4096 = 8192 rows; kernel 4.
        Assert.Equal(new TensorShape(8192, 2048), shape["model.language_model.layers.0.linear_attn.in_proj_qkv.weight"]);
        Assert.Equal(new TensorShape(4096, 2048), shape["model.language_model.layers.0.linear_attn.in_proj_z.weight"]);
        Assert.Equal(new TensorShape(32, 2048), shape["model.language_model.layers.0.linear_attn.in_proj_b.weight"]);
        Assert.Equal(new TensorShape(8192, 1, 4), shape["model.language_model.layers.0.linear_attn.conv1d.weight"]);
        // Layer 3 is full attention: 16 heads x 256 x 2 (output gate) query rows, 2 KV heads x 256.
        Assert.Equal(new TensorShape(8192, 2048), shape["model.language_model.layers.3.self_attn.q_proj.weight"]);
        Assert.Equal(new TensorShape(512, 2048), shape["model.language_model.layers.3.self_attn.k_proj.weight"]);
        // Packed experts: 256 experts, moe_intermediate_size 512 (gate and up stacked: 1024).
        Assert.Equal(new TensorShape(256, 1024, 2048), shape["model.language_model.layers.39.mlp.experts.gate_up_proj"]);
        Assert.Equal(new TensorShape(256, 2048, 512), shape["model.language_model.layers.39.mlp.experts.down_proj"]);
        Assert.Equal(new TensorShape(256, 1024, 2048), shape["mtp.layers.0.mlp.experts.gate_up_proj"]);
        Assert.Equal(new TensorShape(2048, 4096), shape["mtp.fc.weight"]);
        // Vision: hidden 1152, 3 channels, temporal patch 2, patch 16; merger over 2 x 2 patches to out_hidden_size 2048.
        Assert.Equal(new TensorShape(1152, 3, 2, 16, 16), shape["model.visual.patch_embed.proj.weight"]);
        Assert.Equal(new TensorShape(2304, 1152), shape["model.visual.pos_embed.weight"]);
        Assert.Equal(new TensorShape(2048, 4608), shape["model.visual.merger.linear_fc2.weight"]);
        Assert.Contains("model.visual.blocks.26.attn.qkv.weight", shape.Keys);
        Assert.DoesNotContain("model.visual.blocks.27.attn.qkv.weight", shape.Keys);
        // Nothing per expert: the list uses the packed layout throughout.
        Assert.DoesNotContain(tensors, t => t.Name.Contains(".experts.0.", StringComparison.Ordinal));
    }

    [Fact]
    public void Qwen36_27b_DenseCountAndShapes_FromTheConfigText()
    {
        // 64 layers: 48 GDN layers of 10 + 16 attention layers of 7, each with a dense MLP of 4 (post-attention norm,
        // gate/up/down): 48 x 14 + 16 x 11 = 848; embedding, norm, lm_head: 3; vision: 333; no MTP here.
        var tensors = BenchTensorList.FromConfig(Config("27b", mtp: false));
        Assert.Equal(848 + 3 + 333, tensors.Count);
        var shape = tensors.ToDictionary(t => t.Name, t => t.Shape);
        // hidden 5120, intermediate 17408; GDN 16 x 128 key and 48 x 128 value dims: 2048 + 2048 + 6144 = 10240 rows.
        Assert.Equal(new TensorShape(17408, 5120), shape["model.language_model.layers.0.mlp.gate_proj.weight"]);
        Assert.Equal(new TensorShape(5120, 17408), shape["model.language_model.layers.63.mlp.down_proj.weight"]);
        Assert.Equal(new TensorShape(10240, 5120), shape["model.language_model.layers.0.linear_attn.in_proj_qkv.weight"]);
        Assert.Equal(new TensorShape(48), shape["model.language_model.layers.0.linear_attn.A_log"]);
        Assert.DoesNotContain(tensors, t => t.Name.StartsWith("mtp.", StringComparison.Ordinal));
    }

    [Fact]
    public void CutConfig_KeepsOneFullAttentionLayer_AndOneVisionBlock()
    {
        // One MoE attention layer (15), embedding, norm, lm_head (3), one vision block (12) and the 9 other vision
        // tensors, MTP (19).
        var tensors = BenchTensorList.FromConfig(BenchPreset.CutLayers(Config("397b-a17b"), 1));
        Assert.Equal(15 + 3 + 12 + 9 + 19, tensors.Count);
        Assert.Contains(tensors, t => t.Name == "model.language_model.layers.0.self_attn.q_proj.weight");
    }
}
