using MegatronBridge.Config;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Providers;

/// <summary>
/// The generic step every bridge starts with (Megatron-Bridge <c>_hf_config_to_megatron_kwargs</c>):
/// HF fields copied verbatim onto their Megatron names when present, plus rotary base, dtype and activation.
/// </summary>
internal static class HfKwargs
{
    /// <summary>
    /// Creates <paramref name="create"/>'s provider (class defaults) with the required sizes, then applies that step to
    /// <paramref name="tc"/>. <paramref name="root"/> supplies the checkpoint dtype when the text config has none.
    /// </summary>
    public static T Apply<T>(TextConfig tc, HfConfig root, Func<int, int, int, int, T> create) where T : GptModelProvider
    {
        var numLayers = Getattr.RequiredPositiveInt(tc, "num_hidden_layers");
        var hidden = Getattr.RequiredPositiveInt(tc, "hidden_size");
        var heads = Getattr.RequiredPositiveInt(tc, "num_attention_heads");
        var vocab = Getattr.RequiredPositiveInt(tc, "vocab_size");
        GptModelProvider p = create(numLayers, hidden, heads, vocab);

        // Sizes mcore derives when None (present-but-null gives the derived value, as __post_init__ would).
        if (tc.Has("intermediate_size")) p = p with { FfnHiddenSize = PositiveOrDerived(tc, "intermediate_size", 4 * hidden) };
        if (tc.Has("num_key_value_heads")) p = p with { NumQueryGroups = PositiveOrDerived(tc, "num_key_value_heads", heads) };
        if (tc.Has("head_dim")) p = p with { KvChannels = PositiveOrDerived(tc, "head_dim", hidden / heads) };

        if (tc.Has("max_position_embeddings")) p = p with { SeqLength = Getattr.PositiveInt(tc, "max_position_embeddings", p.SeqLength) };
        if (tc.Has("rms_norm_eps")) p = p with { LayernormEpsilon = Getattr.NotNull(tc, "rms_norm_eps", tc.Double("rms_norm_eps")) };
        if (tc.Has("initializer_range")) p = p with { InitMethodStd = Getattr.NotNull(tc, "initializer_range", tc.Double("initializer_range")) };
        if (tc.Has("attention_dropout")) p = p with { AttentionDropout = Getattr.NotNull(tc, "attention_dropout", tc.Double("attention_dropout")) };
        if (tc.Has("hidden_dropout")) p = p with { HiddenDropout = Getattr.NotNull(tc, "hidden_dropout", tc.Double("hidden_dropout")) };
        if (tc.Has("tie_word_embeddings")) p = p with { ShareEmbeddingsAndOutputWeights = tc.Bool("tie_word_embeddings") ?? false };
        if (tc.Has("attention_bias")) p = p with { AddQkvBias = tc.Bool("attention_bias") ?? false };
        if (tc.Has("mlp_bias")) p = p with { AddBiasLinear = tc.Bool("mlp_bias") ?? false };
        if (tc.Has("use_qk_norm")) p = p with { QkLayernorm = tc.Bool("use_qk_norm") ?? false };
        if (tc.Has("partial_rotary_factor")) p = p with { RotaryPercent = RotaryPercent(tc, Getattr.NotNull(tc, "partial_rotary_factor", tc.Double("partial_rotary_factor"))) };

        var rotaryBase = RopeTheta(tc);
        if (rotaryBase is not null) p = p with { RotaryBase = rotaryBase.Value };

        if (Getattr.FirstPresent(tc, "num_experts", "num_local_experts", "n_routed_experts") is { } expertsField)
            p = p with { NumMoeExperts = NullOrPositive(tc, expertsField) };
        if (tc.Has("num_experts_per_tok")) p = p with { MoeRouterTopk = Getattr.PositiveInt(tc, "num_experts_per_tok", p.MoeRouterTopk) };
        if (tc.Has("moe_intermediate_size")) p = p with { MoeFfnHiddenSize = NullOrPositive(tc, "moe_intermediate_size") };
        if (Getattr.FirstPresent(tc, "aux_loss_alpha", "router_aux_loss_coef") is { } auxField)
            p = p with { MoeAuxLossCoeff = Getattr.NotNull(tc, auxField, tc.Double(auxField)) };
        if (tc.Has("scoring_func")) p = p with { MoeRouterScoreFunction = tc.String("scoring_func") ?? p.MoeRouterScoreFunction };
        if (Getattr.FirstPresent(tc, "num_nextn_predict_layers", "mtp_num_hidden_layers") is { } mtpField)
        {
            var mtp = tc.Int(mtpField);
            if (mtp < 0) throw new InvalidInputException($"{tc.Where}: field '{mtpField}' must not be negative, got {mtp}");
            p = p with { MtpNumLayers = mtp };
        }

        p = p with { MakeVocabSizeDivisibleBy = LargestPowerOfTwoDivisor(vocab, 128) };

        // Megatron-Bridge's hf_config_to_provider_kwargs reads the dtype of the config it was handed (for a VL model:
        // text_config) and falls back to float32; the checkpoint's declared dtype (the top level counts too) is kept
        // apart, for the conversion's default output dtype.
        var dtype = ParamsDtype(tc.DType, tc.Where);
        p = p with { ParamsDtype = dtype, Bf16 = dtype == "bfloat16", Fp16 = dtype == "float16" };
        p = p with { CheckpointDtype = ParamsDtype(tc.DType ?? root.DType, tc.DType is null && root.DType is not null ? root.Where : tc.Where) };
        p = p with { ActivationFunc = tc.String("hidden_act") ?? tc.String("hidden_activation") ?? "silu" };
        return (T)p;
    }

    /// <summary>rope_theta_from_hf: the flat field, else rope_parameters["rope_theta"] (rope_scaling is its alias); null if neither.</summary>
    public static double? RopeTheta(TextConfig tc)
    {
        if (tc.Has("rope_theta")) return Getattr.NotNull(tc, "rope_theta", tc.Double("rope_theta"));
        var rope = Getattr.Dict(tc, "rope_parameters") ?? Getattr.Dict(tc, "rope_scaling");
        return Getattr.DictDouble(tc, rope, "rope_parameters", "rope_theta", null);
    }

    public static double RotaryPercent(JsonFields cfg, double value) =>
        value is > 0 and <= 1 ? value : throw new InvalidInputException($"{cfg.Where}: partial_rotary_factor must be in (0, 1], got {value}");

    /// <summary>A dtype / torch_dtype field's value as a torch floating-point dtype name; float32 when absent.</summary>
    private static string ParamsDtype(string? name, string where)
    {
        name ??= "float32";
        if (!DTypes.TryFromTorchName(name, out var dtype) || !dtype.IsFloating())
            throw new InvalidInputException($"{where}: field 'dtype' has an unknown floating-point dtype '{name}'");
        return dtype.TorchName();
    }

    /// <summary>The largest power of two not above <paramref name="limit"/> that divides <paramref name="value"/>.</summary>
    internal static int LargestPowerOfTwoDivisor(int value, int limit)
    {
        var divisor = limit;
        while (divisor > 1 && value % divisor != 0) divisor /= 2;
        return divisor;
    }

    private static int PositiveOrDerived(TextConfig tc, string name, int derived) =>
        tc.Int(name) is { } value ? Getattr.Positive(tc, name, value) : derived;

    private static int? NullOrPositive(TextConfig tc, string name) =>
        tc.Int(name) is { } value ? Getattr.Positive(tc, name, value) : null;
}
