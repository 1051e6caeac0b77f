using MegatronBridge.Config;
using MegatronBridge.IO;

namespace MegatronBridge.Providers;

/// <summary>
/// HF config -> provider for the Qwen3.5 / Qwen3.6 family, following the <c>provider_bridge</c> methods of
/// Megatron-Bridge's Qwen3.5 bridges: the LM-only bridges (<c>Qwen35Bridge</c>, <c>Qwen35MoEBridge</c>) and the VL
/// bridges (<c>Qwen35VLBridge</c>, <c>Qwen35VLMoEBridge</c>).
/// </summary>
internal static class Qwen35Translation
{
    /// <summary>Qwen3_5ForCausalLM / Qwen3_5MoeForCausalLM: a GPTModelProvider from the top-level (flat) config.</summary>
    public static GptModelProvider LanguageModel(HfConfig cfg, bool moe)
    {
        var tc = cfg.Text;
        var p = HfKwargs.Apply(tc, cfg, (layers, hidden, heads, vocab) => new GptModelProvider
        {
            NumLayers = layers, HiddenSize = hidden, NumAttentionHeads = heads, VocabSize = vocab,
        });
        p = moe ? ApplyMoeConfig(p, tc) : ApplyCommonConfig(p, tc);
        p = p with
        {
            PositionEmbeddingType = "rope",
            AutocastDtype = "bfloat16",
            // The LM-only bridge reads these from the config it was given (for a VL checkpoint: its text_config).
            ShareEmbeddingsAndOutputWeights = Getattr.Bool(cfg, "tie_word_embeddings", false) ?? false,
            BosTokenId = Getattr.Int(cfg, "bos_token_id", 248045),
            EosTokenId = Getattr.Int(cfg, "eos_token_id", 248046),
            TransformerLayerSpec = Qwen35VLModelProvider.HybridLayerSpec,
            HetereogenousDistCheckpoint = true,
        };
        ProviderValidation.Validate(p, tc);
        return p;
    }

    /// <summary>Qwen3_5ForConditionalGeneration (Qwen3.5 dense VL, Qwen3.6 dense).</summary>
    public static Qwen35VLModelProvider VisionLanguage(HfConfig cfg)
    {
        var tc = VisionLanguageText(cfg);
        var p = HfKwargs.Apply(tc, cfg, (layers, hidden, heads, vocab) => new Qwen35VLModelProvider
        {
            NumLayers = layers, HiddenSize = hidden, NumAttentionHeads = heads, VocabSize = vocab,
        });
        p = ApplyCommonConfig(p, tc);
        p = ApplyVisionLanguageOverrides(p, cfg, tc, eosDefault: 248044);
        ProviderValidation.Validate(p, tc);
        return p;
    }

    /// <summary>Qwen3_5MoeForConditionalGeneration (Qwen3.5 MoE VL, Qwen3.6 MoE).</summary>
    public static Qwen35VLMoEModelProvider VisionLanguageMoe(HfConfig cfg)
    {
        var tc = VisionLanguageText(cfg);
        var p = HfKwargs.Apply(tc, cfg, (layers, hidden, heads, vocab) => new Qwen35VLMoEModelProvider
        {
            NumLayers = layers, HiddenSize = hidden, NumAttentionHeads = heads, VocabSize = vocab,
        });
        p = ApplyMoeConfig(p, tc);
        p = ApplyVisionLanguageOverrides(p, cfg, tc, eosDefault: 248046);
        p = p with { AudioTokenId = Getattr.Int(cfg, "audio_token_id", 248076) };
        ProviderValidation.Validate(p, tc);
        return p;
    }

    /// <summary>Megatron-Bridge's <c>_apply_qwen35_common_config</c>.</summary>
    private static T ApplyCommonConfig<T>(T provider, TextConfig tc) where T : GptModelProvider
    {
        GptModelProvider p = provider;
        var rope = Getattr.Dict(tc, "rope_parameters");
        p = p with
        {
            Normalization = "RMSNorm",
            GatedLinearUnit = true,
            AddQkvBias = Getattr.Bool(tc, "attention_bias", false) ?? false,
            AddBiasLinear = false,
            QkLayernorm = true,
            HiddenDropout = 0.0,
            LayernormZeroCenteredGamma = true,
            AttentionOutputGate = true,
            ExperimentalAttentionVariant = "gated_delta_net",
            LinearAttentionFreq = FullAttentionInterval(tc, p.NumLayers),
            LinearNumValueHeads = Getattr.PositiveInt(tc, "linear_num_value_heads", 32),
            RotaryPercent = HfKwargs.RotaryPercent(tc, Getattr.NotNull(tc, "rope_parameters.partial_rotary_factor",
                Getattr.DictDouble(tc, rope, "rope_parameters", "partial_rotary_factor", 0.25))),
            LinearConvKernelDim = Getattr.PositiveInt(tc, "linear_conv_kernel_dim", 4),
            LinearKeyHeadDim = Getattr.PositiveInt(tc, "linear_key_head_dim", 128),
            LinearValueHeadDim = Getattr.PositiveInt(tc, "linear_value_head_dim", 128),
            LinearNumKeyHeads = Getattr.PositiveInt(tc, "linear_num_key_heads", 16),
        };
        if (p.MtpNumLayers is > 0) p = p with { MtpLossScalingFactor = 0.1 };
        return (T)p;
    }

    /// <summary>Megatron-Bridge's <c>_apply_qwen35_moe_config</c>: common config plus the MoE fields; every layer is
    /// MoE.</summary>
    private static T ApplyMoeConfig<T>(T provider, TextConfig tc) where T : GptModelProvider
    {
        GptModelProvider p = ApplyCommonConfig(provider, tc);
        var expertsField = Getattr.FirstPresent(tc, "num_experts", "num_local_experts") ?? "num_experts";
        p = p with
        {
            MoeFfnHiddenSize = Getattr.PositiveInt(tc, "moe_intermediate_size", 1024),
            NumMoeExperts = Getattr.PositiveInt(tc, expertsField, 512),
            MoeRouterTopk = Getattr.PositiveInt(tc, "num_experts_per_tok", 10),
            MoeSharedExpertIntermediateSize = Getattr.Int(tc, "shared_expert_intermediate_size", null) is { } shared
                ? Getattr.Positive(tc, "shared_expert_intermediate_size", shared) : null,
            MoeSharedExpertGate = true,
            MoeGroupedGemm = true,
            MoeRouterLoadBalancingType = "global_aux_loss",
            MoeRouterPreSoftmax = false,
            MoeTokenDispatcherType = "alltoall",
            MoePermuteFusion = true,
        };
        return (T)p;
    }

    /// <summary>The VL bridges' last steps (<c>Qwen35VLBridge.provider_bridge</c>): top-level tie flag, mRoPE, token
    /// ids.</summary>
    private static T ApplyVisionLanguageOverrides<T>(T provider, HfConfig cfg, TextConfig tc, int eosDefault) where T : Qwen35VLModelProvider
    {
        VisionLanguageModelProvider p = provider;
        p = p with
        {
            // Top level on purpose: text_config's tie_word_embeddings inherits a wrong default (the reason
            // Megatron-Bridge gives for reading it there).
            ShareEmbeddingsAndOutputWeights = Getattr.Bool(cfg, "tie_word_embeddings", false) ?? false,
            PositionEmbeddingType = "mrope",
            HeadDim = Getattr.Int(tc, "head_dim", 256),
            BosTokenId = Getattr.Int(tc, "bos_token_id", 248045),
            EosTokenId = Getattr.Int(tc, "eos_token_id", eosDefault),
            VisionStartTokenId = Getattr.Int(cfg, "vision_start_token_id", 248053),
            VisionEndTokenId = Getattr.Int(cfg, "vision_end_token_id", 248054),
            ImageTokenId = Getattr.Int(cfg, "image_token_id", 248056),
            VideoTokenId = Getattr.Int(cfg, "video_token_id", 248057),
            // transformers >= 5: rope_scaling is an alias of rope_parameters.
            MropeSection = Getattr.DictIntList(tc, Getattr.Dict(tc, "rope_parameters") ?? Getattr.Dict(tc, "rope_scaling"),
                "rope_parameters", "mrope_section", new[] { 11, 11, 10 }),
            Vision = VisionTranslation.FromHf(cfg, p.TensorModelParallelSize),
        };
        return (T)p;
    }

    /// <summary>
    /// full_attention_interval_from_hf: layer_types as a 1/0 list. transformers' Qwen3.5 text config always has
    /// layer_types: when the file gives only full_attention_interval (default 4), its constructor expands it to one
    /// entry per layer, layer i full attention when (i + 1) is a multiple of the interval; so the list form here too.
    /// </summary>
    internal static LinearAttentionFrequency FullAttentionInterval(TextConfig tc, int numLayers)
    {
        var layerTypes = tc.LayerTypes;
        if (layerTypes is { Count: > 0 })
        {
            if (layerTypes.Count != numLayers)
                throw new InvalidInputException($"{tc.Where}: layer_types has {layerTypes.Count} entries but num_hidden_layers is {numLayers}");
            var pattern = layerTypes.Select((type, i) => type switch
            {
                "linear_attention" => 1,
                "full_attention" => 0,
                _ => throw new InvalidInputException($"{tc.Where}: layer_types[{i}] is '{type}'; expected 'linear_attention' or 'full_attention'"),
            }).ToArray();
            return LinearAttentionFrequency.FromPattern(pattern);
        }
        var every = tc.FullAttentionInterval is { } interval ? Getattr.Positive(tc, "full_attention_interval", interval) : 4;
        // Checked here as well as in ProviderValidation: the expansion below would otherwise allocate one entry per layer.
        if (numLayers > ProviderValidation.MaxLayers)
            throw new InvalidInputException($"{tc.Where}: field 'num_hidden_layers' is implausibly large ({numLayers}, more than {ProviderValidation.MaxLayers})");
        return LinearAttentionFrequency.FromPattern(Enumerable.Range(0, numLayers).Select(i => (i + 1) % every == 0 ? 0 : 1).ToArray());
    }

    internal static TextConfig VisionLanguageText(HfConfig cfg) =>
        cfg.HasTextConfig ? cfg.Text : throw new InvalidInputException($"{cfg.Where}: a vision-language config needs a 'text_config' object");
}
