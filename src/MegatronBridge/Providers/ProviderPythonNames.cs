namespace MegatronBridge.Providers;

/// <summary>
/// The Python objects behind a provider's fields, as Megatron-Bridge's run_config.yaml names them for its
/// <c>instantiate</c>: the provider class, the layer-spec function, the activation, and the HF vision config class.
/// </summary>
internal static class ProviderPythonNames
{
    /// <summary>Full Python path of the provider class (Megatron-Bridge's module layout).</summary>
    public static string ProviderClass(GptModelProvider provider) => provider.ProviderName switch
    {
        "GPTModelProvider" => "megatron.bridge.models.gpt_provider.GPTModelProvider",
        "Qwen35VLModelProvider" or "Qwen35VLMoEModelProvider" => "megatron.bridge.models.qwen_vl.qwen35_vl_provider." + provider.ProviderName,
        "Qwen3VLModelProvider" or "Qwen3VLMoEModelProvider" => "megatron.bridge.models.qwen_vl.qwen3_vl_provider." + provider.ProviderName,
        var other => throw new NotSupportedException($"no Python path known for provider {other}"),
    };

    /// <summary>The function named by <c>transformer_layer_spec</c>, or null when unknown.</summary>
    public static string? LayerSpecFunction(string spec) => spec switch
    {
        "default_layer_spec" => "megatron.bridge.models.gpt_provider.default_layer_spec",
        Qwen35VLModelProvider.HybridLayerSpec => "megatron.core.models.gpt.experimental_attention_variant_module_specs." + spec,
        _ => null,
    };

    /// <summary>The torch function of an HF activation name (Megatron-Bridge's activation map), or null when unknown.</summary>
    public static string? Activation(string hfName) => hfName switch
    {
        "silu" => "torch.nn.functional.silu",
        "gelu" => "torch.nn.functional.gelu",
        "relu" => "torch.nn.functional.relu",
        _ => null,
    };

    /// <summary>The transformers class of the HF vision config a VL provider holds (<c>vision_config</c>), or null.</summary>
    public static string? VisionConfigClass(GptModelProvider provider) => provider.ProviderName switch
    {
        "Qwen35VLModelProvider" => "transformers.models.qwen3_5.configuration_qwen3_5.Qwen3_5VisionConfig",
        "Qwen35VLMoEModelProvider" => "transformers.models.qwen3_5_moe.configuration_qwen3_5_moe.Qwen3_5MoeVisionConfig",
        "Qwen3VLModelProvider" => "transformers.models.qwen3_vl.configuration_qwen3_vl.Qwen3VLVisionConfig",
        "Qwen3VLMoEModelProvider" => "transformers.models.qwen3_vl_moe.configuration_qwen3_vl_moe.Qwen3VLMoeVisionConfig",
        _ => null,
    };
}
