namespace MegatronBridge.Tests.Providers;

/// <summary>
/// A Qwen3-VL-30B-A3B config written for these tests from public facts (transformers 4.57 layout: flat rope_theta,
/// mrope in rope_scaling, num_experts spelled so).
/// </summary>
internal static class Qwen3Vl30BA3BConfig
{
    public const string Json = """
    {
      "architectures": ["Qwen3VLMoeForConditionalGeneration"],
      "image_token_id": 151655,
      "video_token_id": 151656,
      "vision_start_token_id": 151652,
      "vision_end_token_id": 151653,
      "model_type": "qwen3_vl_moe",
      "tie_word_embeddings": false,
      "text_config": {
        "attention_bias": false,
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "decoder_sparse_step": 1,
        "dtype": "bfloat16",
        "eos_token_id": 151645,
        "head_dim": 128,
        "hidden_act": "silu",
        "hidden_size": 2048,
        "initializer_range": 0.02,
        "intermediate_size": 6144,
        "max_position_embeddings": 262144,
        "mlp_only_layers": [],
        "model_type": "qwen3_vl_moe_text",
        "moe_intermediate_size": 768,
        "norm_topk_prob": true,
        "num_attention_heads": 32,
        "num_experts": 128,
        "num_experts_per_tok": 8,
        "num_hidden_layers": 48,
        "num_key_value_heads": 4,
        "rms_norm_eps": 1e-06,
        "rope_scaling": {"mrope_interleaved": true, "mrope_section": [24, 20, 20], "rope_type": "default"},
        "rope_theta": 5000000,
        "tie_word_embeddings": false,
        "use_cache": true,
        "vocab_size": 151936
      },
      "vision_config": {
        "deepstack_visual_indexes": [8, 16, 24],
        "depth": 27,
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_size": 1152,
        "in_channels": 3,
        "initializer_range": 0.02,
        "intermediate_size": 4304,
        "model_type": "qwen3_vl_moe",
        "num_heads": 16,
        "num_position_embeddings": 2304,
        "out_hidden_size": 2048,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2
      }
    }
    """;
}
