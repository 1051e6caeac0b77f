using MegatronBridge.Config;
using MegatronBridge.IO;

namespace MegatronBridge.Providers;

/// <summary>HF config -> provider for Qwen3-VL (<c>provider_bridge</c> of Megatron-Bridge's <c>Qwen3VLBridge</c> and
/// <c>Qwen3VLMoEBridge</c>): plain attention, no output gate.</summary>
internal static class Qwen3VLTranslation
{
    /// <summary>Qwen3VLForConditionalGeneration.</summary>
    public static Qwen3VLModelProvider VisionLanguage(HfConfig cfg)
    {
        var tc = Qwen35Translation.VisionLanguageText(cfg);
        var p = HfKwargs.Apply(tc, cfg, (layers, hidden, heads, vocab) => new Qwen3VLModelProvider
        {
            NumLayers = layers, HiddenSize = hidden, NumAttentionHeads = heads, VocabSize = vocab,
        });
        p = ApplyCommon(p, cfg, tc, headDim: Required(tc, "head_dim"));
        ProviderValidation.Validate(p, tc);
        return p;
    }

    /// <summary>Qwen3VLMoeForConditionalGeneration.</summary>
    public static Qwen3VLMoEModelProvider VisionLanguageMoe(HfConfig cfg)
    {
        var tc = Qwen35Translation.VisionLanguageText(cfg);
        var p = HfKwargs.Apply(tc, cfg, (layers, hidden, heads, vocab) => new Qwen3VLMoEModelProvider
        {
            NumLayers = layers, HiddenSize = hidden, NumAttentionHeads = heads, VocabSize = vocab,
        });
        p = ApplyCommon(p, cfg, tc, headDim: Getattr.Int(tc, "head_dim", p.HiddenSize / p.NumAttentionHeads));
        // transformers 5 stores num_experts as num_local_experts for this model (attribute alias).
        var expertsField = Getattr.FirstPresent(tc, "num_experts", "num_local_experts") ?? "num_experts";
        p = p with
        {
            MoeFfnHiddenSize = Required(tc, "moe_intermediate_size"),
            NumMoeExperts = Required(tc, expertsField),
            MoeRouterTopk = Required(tc, "num_experts_per_tok"),
            DecoderSparseStep = Getattr.PositiveInt(tc, "decoder_sparse_step", 1),
            MlpOnlyLayers = tc.Has("mlp_only_layers") ? tc.IntList("mlp_only_layers") ?? Array.Empty<int>() : Array.Empty<int>(),
            MoeGroupedGemm = true,
            MoeRouterLoadBalancingType = "aux_loss",
            MoeAuxLossCoeff = 1e-3,
            MoeRouterPreSoftmax = false,
            MoeTokenDispatcherType = "alltoall",
            MoePermuteFusion = true,
        };
        ProviderValidation.Validate(p, tc);
        return p;
    }

    private static T ApplyCommon<T>(T provider, HfConfig cfg, TextConfig tc, int? headDim) where T : Qwen3VLModelProvider
    {
        Qwen3VLModelProvider p = provider;
        if (!tc.Has("attention_bias")) throw new InvalidInputException($"{tc.Where}: required field 'attention_bias' is missing");
        p = p with
        {
            Normalization = "RMSNorm",
            GatedLinearUnit = true,
            AddQkvBias = tc.Bool("attention_bias") ?? false,
            AddBiasLinear = false,
            QkLayernorm = true,
            HiddenDropout = 0.0,
            RotaryBase = HfKwargs.RopeTheta(tc) ?? p.RotaryBase,
            ShareEmbeddingsAndOutputWeights = Getattr.Bool(cfg, "tie_word_embeddings", false) ?? false,
            PositionEmbeddingType = "mrope",
            HeadDim = headDim,
            BosTokenId = Getattr.Int(tc, "bos_token_id", 151643),
            EosTokenId = Getattr.Int(tc, "eos_token_id", 151645),
            VisionStartTokenId = Getattr.Int(cfg, "vision_start_token_id", 151652),
            VisionEndTokenId = Getattr.Int(cfg, "vision_end_token_id", 151653),
            ImageTokenId = Getattr.Int(cfg, "image_token_id", 151655),
            VideoTokenId = Getattr.Int(cfg, "video_token_id", 151656),
            MropeSection = Getattr.DictIntList(tc, Getattr.Dict(tc, "rope_parameters") ?? Getattr.Dict(tc, "rope_scaling"),
                "rope_parameters", "mrope_section", new[] { 24, 20, 20 }),
            Vision = VisionTranslation.FromHf(cfg, p.TensorModelParallelSize),
        };
        return (T)p;
    }

    private static int Required(TextConfig tc, string name) => Getattr.RequiredPositiveInt(tc, name);
}
