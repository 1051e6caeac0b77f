using System.Text.Json.Nodes;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>
/// <c>inspect --json</c> on every tiny fixture; every expected value below was derived by hand from the fixture's
/// config.json and Megatron-Bridge's config translation (not from the code under test).
/// </summary>
public class InspectCommandTests
{
    private static JsonObject InspectJson(string fixture)
    {
        var (exitCode, output, error) = CliRunner.Run("inspect", TestPaths.Fixture(fixture), "--json");
        Assert.True(exitCode == 0, $"exit code {exitCode}: {error}");
        Assert.Equal("", error);
        return Assert.IsType<JsonObject>(JsonNode.Parse(output));
    }

    // Values shared by the four Qwen3.5/3.6 VL fixtures (text_config of 8 layers, hidden 64, GDN 4/8 heads of 16).
    private static readonly (string Field, object? Value)[] Qwen35TinyText =
    {
        ("num_layers", 8), ("hidden_size", 64), ("num_attention_heads", 8), ("num_query_groups", 4), ("kv_channels", 32),
        ("vocab_size", 1024), ("seq_length", 4096), ("layernorm_epsilon", 1e-6), ("init_method_std", 0.02),
        ("attention_dropout", 0.0), ("hidden_dropout", 0.0), ("normalization", "RMSNorm"), ("gated_linear_unit", true),
        ("add_bias_linear", false), ("add_qkv_bias", false), ("qk_layernorm", true), ("layernorm_zero_centered_gamma", true),
        ("attention_output_gate", true), ("activation_func", "silu"), ("experimental_attention_variant", "gated_delta_net"),
        ("linear_attention_freq", new[] { 1, 1, 1, 0, 1, 1, 1, 0 }), ("linear_conv_kernel_dim", 4), ("linear_key_head_dim", 16),
        ("linear_value_head_dim", 16), ("linear_num_key_heads", 4), ("linear_num_value_heads", 8), ("rotary_base", 1e7),
        ("rotary_percent", 0.25), ("fp16", false),
        ("hetereogenous_dist_checkpoint", true), ("should_pad_vocab", false),
        ("transformer_layer_spec", "get_transformer_block_with_experimental_attention_variant_spec"),
        ("bos_token_id", null), ("eos_token_id", null),
    };

    // The flat LM-only configs say bfloat16 at their (only) level.
    private static readonly (string Field, object? Value)[] FlatBf16 = { ("params_dtype", "bfloat16"), ("bf16", true) };

    // Megatron-Bridge reads params_dtype from text_config alone (float32 when it has none); the VL fixtures declare
    // bfloat16 only at the top level.
    private static readonly (string Field, object? Value)[] TextConfigWithoutDtype = { ("params_dtype", "float32"), ("bf16", false), ("fp16", false) };

    private static readonly (string Field, object? Value)[] Qwen35TinyVl =
    {
        ("position_embedding_type", "mrope"), ("mrope_section", new[] { 2, 1, 1 }), ("head_dim", 32),
        ("share_embeddings_and_output_weights", false), ("image_token_id", 1000), ("video_token_id", 1001),
        ("vision_start_token_id", 1002), ("vision_end_token_id", 1003), ("mtp_num_layers", 1), ("mtp_loss_scaling_factor", 0.1),
    };

    private static readonly (string Field, object? Value)[] Qwen35TinyMoe =
    {
        ("num_moe_experts", 8), ("moe_router_topk", 2), ("moe_ffn_hidden_size", 24), ("moe_shared_expert_intermediate_size", 40),
        ("moe_shared_expert_gate", true), ("moe_grouped_gemm", true), ("moe_router_load_balancing_type", "global_aux_loss"),
        ("moe_aux_loss_coeff", 0.001), ("moe_router_pre_softmax", false), ("moe_token_dispatcher_type", "alltoall"),
        ("moe_permute_fusion", true), ("moe_layer_freq", 1),
        // No intermediate_size in the MoE configs: mcore's 4 * hidden_size.
        ("ffn_hidden_size", 256),
    };

    private static readonly (string Field, object? Value)[] Qwen35TinyVision =
    {
        ("num_layers", 2), ("hidden_size", 32), ("num_attention_heads", 4), ("num_query_groups", 4), ("kv_channels", 8),
        ("ffn_hidden_size", 64), ("patch_size", 16), ("temporal_patch_size", 2), ("in_channels", 3), ("spatial_merge_size", 2),
        ("num_position_embeddings", 64), ("out_hidden_size", 64), ("add_bias_linear", true), ("add_qkv_bias", true),
        ("gated_linear_unit", false), ("normalization", "LayerNorm"), ("layernorm_epsilon", 1e-6), ("params_dtype", "float32"),
        ("bf16", false), ("hetereogenous_dist_checkpoint", false),
    };

    [Fact]
    public void Qwen35VlDense()
    {
        var json = InspectJson("qwen35-vl-dense-tiny");
        AssertTop(json, "Qwen3_5ForConditionalGeneration", "Qwen35VLBridge", "Qwen35VLModelProvider", "qwen3_5");
        var provider = (JsonObject)json["provider"]!;
        AssertFields(provider, Qwen35TinyText);
        AssertFields(provider, Qwen35TinyVl);
        AssertFields(provider, TextConfigWithoutDtype);
        AssertFields(provider, ("ffn_hidden_size", 128), ("num_moe_experts", null), ("eos_token_id", null));
        AssertFields((JsonObject)json["vision"]!, Qwen35TinyVision);
        AssertFields((JsonObject)json["vision"]!, ("deepstack_visual_indexes", Array.Empty<int>()));
        Assert.Equal("G G G A G G G A", (string?)json["layer_layout"]);
        Assert.Equal(new[] { "linear_attention", "linear_attention", "linear_attention", "full_attention", "linear_attention", "linear_attention", "linear_attention", "full_attention" },
            json["layer_types"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(1, (int)json["mtp"]!["num_layers"]!);
        Assert.True((bool)json["mtp"]!["tensors_present"]!);
        Assert.Empty(json["moe_layers"]!.AsArray());
    }

    [Theory]
    [InlineData("qwen35-vl-moe-tiny")]
    [InlineData("qwen35-vl-moe-mixed-tiny")]
    [InlineData("qwen36-vl-moe-packed-tiny")]
    public void Qwen35VlMoe(string fixture)
    {
        var json = InspectJson(fixture);
        AssertTop(json, "Qwen3_5MoeForConditionalGeneration", "Qwen35VLMoEBridge", "Qwen35VLMoEModelProvider", "qwen3_5_moe");
        var provider = (JsonObject)json["provider"]!;
        AssertFields(provider, Qwen35TinyText);
        AssertFields(provider, Qwen35TinyVl);
        AssertFields(provider, TextConfigWithoutDtype);
        AssertFields(provider, Qwen35TinyMoe);
        // The config's num_key_value_heads (4) wins over the class default (2); audio id is the getattr default.
        AssertFields(provider, ("num_query_groups", 4), ("moe_router_dtype", "fp32"), ("audio_token_id", 248076));
        AssertFields((JsonObject)json["vision"]!, Qwen35TinyVision);
        Assert.Equal(Enumerable.Range(0, 8), json["moe_layers"]!.AsArray().Select(n => (int)n!));
        Assert.True((bool)json["mtp"]!["tensors_present"]!);
    }

    [Fact]
    public void Qwen35TextDenseTied()
    {
        var json = InspectJson("qwen35-text-dense-tied-tiny");
        AssertTop(json, "Qwen3_5ForCausalLM", "Qwen35Bridge", "GPTModelProvider", "qwen3_5_text");
        var provider = (JsonObject)json["provider"]!;
        AssertFields(provider, Qwen35TinyText);
        AssertFields(provider, FlatBf16);
        AssertFields(provider, ("share_embeddings_and_output_weights", true), ("position_embedding_type", "rope"),
            ("autocast_dtype", "bfloat16"), ("ffn_hidden_size", 128), ("mtp_num_layers", null), ("mtp_loss_scaling_factor", 0.1),
            ("num_moe_experts", null), ("attention_softmax_in_fp32", false),
            ("scatter_embedding_sequence_parallel", true), ("masked_softmax_fusion", true));
        Assert.False(provider.ContainsKey("mrope_section"));
        Assert.False(provider.ContainsKey("head_dim"));
        Assert.Null(json["vision"]);
        Assert.Equal(0, (int)json["mtp"]!["num_layers"]!);
        Assert.False((bool)json["mtp"]!["tensors_present"]!);
        Assert.Equal(0L, (long)json["parameters"]!["vision"]!);
    }

    [Fact]
    public void Qwen35TextMoe()
    {
        var json = InspectJson("qwen35-text-moe-tiny");
        AssertTop(json, "Qwen3_5MoeForCausalLM", "Qwen35MoEBridge", "GPTModelProvider", "qwen3_5_moe_text");
        var provider = (JsonObject)json["provider"]!;
        AssertFields(provider, Qwen35TinyText);
        AssertFields(provider, Qwen35TinyMoe);
        AssertFields(provider, FlatBf16);
        AssertFields(provider, ("share_embeddings_and_output_weights", false), ("position_embedding_type", "rope"), ("mtp_num_layers", null),
            // GPTModelProvider keeps mcore's router dtype default.
            ("moe_router_dtype", null));
    }

    [Fact]
    public void Qwen3VlDense()
    {
        var json = InspectJson("qwen3-vl-dense-tiny");
        AssertTop(json, "Qwen3VLForConditionalGeneration", "Qwen3VLBridge", "Qwen3VLModelProvider", "qwen3_vl");
        var provider = (JsonObject)json["provider"]!;
        AssertFields(provider, Qwen3VlTinyText);
        // bos/eos are absent from this text_config: the bridge's getattr defaults.
        AssertFields(provider, ("bos_token_id", 151643), ("eos_token_id", 151645), ("num_moe_experts", null),
            ("freeze_language_model", false), ("freeze_vision_model", false));
        var vision = (JsonObject)json["vision"]!;
        AssertFields(vision, Qwen35TinyVision);
        AssertFields(vision, ("deepstack_visual_indexes", new[] { 0 }));
        Assert.Equal("A A A A", (string?)json["layer_layout"]);
    }

    [Fact]
    public void Qwen3VlMoe()
    {
        var json = InspectJson("qwen3-vl-moe-tiny");
        AssertTop(json, "Qwen3VLMoeForConditionalGeneration", "Qwen3VLMoEBridge", "Qwen3VLMoEModelProvider", "qwen3_vl_moe");
        var provider = (JsonObject)json["provider"]!;
        AssertFields(provider, Qwen3VlTinyText);
        AssertFields(provider,
            ("bos_token_id", null), ("eos_token_id", null),
            // num_local_experts is transformers 5's spelling of num_experts for this model.
            ("num_moe_experts", 8), ("moe_router_topk", 2), ("moe_ffn_hidden_size", 24), ("moe_shared_expert_intermediate_size", null),
            ("moe_grouped_gemm", true), ("moe_router_load_balancing_type", "aux_loss"), ("moe_aux_loss_coeff", 0.001),
            ("moe_token_dispatcher_type", "alltoall"), ("moe_router_dtype", "fp32"), ("decoder_sparse_step", 1),
            ("mlp_only_layers", Array.Empty<int>()), ("freeze_language_model", true), ("freeze_vision_model", true),
            ("masked_softmax_fusion", false), ("scatter_embedding_sequence_parallel", false), ("attention_softmax_in_fp32", true));
        Assert.Equal(Enumerable.Range(0, 4), json["moe_layers"]!.AsArray().Select(n => (int)n!));
    }

    private static readonly (string Field, object? Value)[] Qwen3VlTinyText =
    {
        ("num_layers", 4), ("hidden_size", 64), ("num_attention_heads", 8), ("num_query_groups", 4), ("kv_channels", 32),
        ("head_dim", 32), ("ffn_hidden_size", 128), ("vocab_size", 1024), ("seq_length", 4096), ("layernorm_epsilon", 1e-6),
        ("normalization", "RMSNorm"), ("gated_linear_unit", true), ("add_qkv_bias", false), ("add_bias_linear", false),
        ("qk_layernorm", true), ("layernorm_zero_centered_gamma", false), ("attention_output_gate", false),
        ("experimental_attention_variant", null), ("linear_attention_freq", null), ("rotary_base", 5e6), ("rotary_percent", 1.0),
        ("position_embedding_type", "mrope"), ("mrope_section", new[] { 6, 5, 5 }), ("share_embeddings_and_output_weights", false),
        ("image_token_id", 1000), ("video_token_id", 1001), ("vision_start_token_id", 1002), ("vision_end_token_id", 1003),
        ("hetereogenous_dist_checkpoint", false), ("transformer_layer_spec", "default_layer_spec"), ("mtp_num_layers", null),
        ("params_dtype", "float32"), ("bf16", false),
    };

    [Fact]
    public void ParameterCountsAndInventoryOfTheMoeFixture()
    {
        var json = InspectJson("qwen35-vl-moe-tiny");
        var parameters = json["parameters"]!;
        // Routed experts: 8 layers x 8 experts x (gate+up [2*24, 64] + down [64, 24]) = 8 * 8 * 4608.
        Assert.Equal(294_912L, (long)parameters["routed_experts"]!);
        var total = (long)parameters["total"]!;
        var vision = (long)parameters["vision"]!;
        var mtp = (long)parameters["mtp"]!;
        var languageModel = (long)parameters["language_model"]!;
        Assert.Equal(total - vision - mtp, languageModel);
        // Top-2 of 8: a token skips 6/8 of the routed expert parameters.
        Assert.Equal(languageModel - 294_912L * 6 / 8, (long)parameters["active_per_token"]!);
        var inventory = Assert.Single(json["inventory"]!.AsArray());
        Assert.Equal("bfloat16", (string?)inventory!["dtype"]);
        Assert.Equal(391, (int)inventory["count"]!);
        Assert.Equal(391, (int)json["tensor_count"]!);
        Assert.Equal(total * 2, (long)inventory["bytes"]!);
    }

    [Fact]
    public void ParameterCountsOfTheDenseVisionFixtureCountVisionApart()
    {
        var json = InspectJson("qwen35-vl-dense-tiny");
        var parameters = json["parameters"]!;
        // Vision by hand: patch embed 32*3*2*16*16 + 32; pos embed 64*32; 2 blocks of
        // (2 norms 4*32, qkv 96*32+96, proj 32*32+32, fc1 64*32+64, fc2 32*64+32); merger (norm 2*32, fc1 128*128+128, fc2 64*128+64).
        const long patch = 32 * 3 * 2 * 16 * 16 + 32, pos = 64 * 32;
        const long block = 4 * 32 + (96 * 32 + 96) + (32 * 32 + 32) + (64 * 32 + 64) + (32 * 64 + 32);
        const long merger = 2 * 32 + (128 * 128 + 128) + (64 * 128 + 64);
        Assert.Equal(patch + pos + 2 * block + merger, (long)parameters["vision"]!);
        Assert.Equal((long)parameters["language_model"]!, (long)parameters["active_per_token"]!);
        Assert.Equal(0L, (long)parameters["routed_experts"]!);
    }

    [Fact]
    public void HumanOutputShowsBridgeLayoutAndCounts()
    {
        var (exitCode, output, error) = CliRunner.Run("inspect", TestPaths.Fixture("qwen35-vl-dense-tiny"));
        Assert.Equal(0, exitCode);
        Assert.Equal("", error);
        Assert.Contains("Qwen35VLBridge", output);
        Assert.Contains("G G G A G G G A", output);
        Assert.Contains("hetereogenous_dist_checkpoint", output);
        Assert.Contains("bfloat16", output);
    }

    [Fact]
    public void MissingFolderFailsWithMessageOnStderr()
    {
        using var dir = TestPaths.NewTempDir();
        var (exitCode, output, error) = CliRunner.Run("inspect", dir.Path, "--json");
        Assert.NotEqual(0, exitCode);
        Assert.Equal("", output);
        Assert.Contains("config.json", error);
    }

    [Fact]
    public void UnsupportedArchitectureFailsListingSupportedOnes()
    {
        using var dir = TestPaths.NewTempDir();
        File.WriteAllText(dir.Sub("config.json"), """{"architectures": ["LlamaForCausalLM"], "hidden_size": 8}""");
        var (exitCode, output, error) = CliRunner.Run("inspect", dir.Path, "--json");
        Assert.Equal(1, exitCode);
        Assert.Equal("", output);
        Assert.Contains("LlamaForCausalLM", error);
        Assert.Contains("Qwen3_5ForConditionalGeneration", error);
        Assert.Contains("Qwen3VLMoeForConditionalGeneration", error);
    }

    private static void AssertTop(JsonObject json, string architecture, string bridge, string provider, string modelType)
    {
        Assert.Equal(architecture, (string?)json["architecture"]);
        Assert.Equal(bridge, (string?)json["bridge"]);
        Assert.Equal(provider, (string?)json["provider_class"]);
        Assert.Equal(modelType, (string?)json["model_type"]);
    }

    private static void AssertFields(JsonObject actual, params (string Field, object? Value)[] expected)
    {
        foreach (var (field, value) in expected) JsonAssert.Field(actual, field, value);
    }
}
