using MegatronBridge.Config;
using MegatronBridge.IO;
using MegatronBridge.Models;

namespace MegatronBridge.Reference;

/// <summary>Vision encoder sizes, validated from vision_config.</summary>
internal sealed record VisionDims(
    int Depth, int Hidden, int Intermediate, int Heads, int InChannels, int PatchSize, int TemporalPatchSize,
    int SpatialMergeSize, int OutHidden, int NumPositionEmbeddings, double RopeTheta, IReadOnlyList<int> DeepstackIndexes,
    bool MlpGeluTanh = true, bool PositionAlignCorners = true)
{
    public int HeadDim => Hidden / Heads;
    public int PatchValues => InChannels * TemporalPatchSize * PatchSize * PatchSize;
    public int MergeUnit => SpatialMergeSize * SpatialMergeSize;
}

/// <summary>
/// Everything the reference forward needs from config.json, read once and validated (a missing or bad field is an
/// <see cref="InvalidInputException"/> naming the file and the field). The model family comes from the bridge
/// registry, which dispatches on <c>architectures</c> (<see cref="ReferenceTraits"/>).
/// </summary>
internal sealed class ReferenceConfig
{
    public required string Where { get; init; }
    /// <summary>The decoder variant, from the bridge registration of the config's architecture.</summary>
    public required ReferenceTraits Traits { get; init; }
    public required int Hidden { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int Vocab { get; init; }
    public required float RmsEps { get; init; }
    public required double RopeTheta { get; init; }
    /// <summary>Number of rotary frequencies (rotary dims / 2).</summary>
    public required int RotaryFrequencies { get; init; }
    /// <summary>mrope_section (frequencies for T, H, W); null means plain 1-D RoPE (all from T).</summary>
    public required IReadOnlyList<int>? MropeSection { get; init; }
    public required bool MropeInterleaved { get; init; }
    /// <summary>Per layer: true for Gated DeltaNet, false for softmax attention.</summary>
    public required IReadOnlyList<bool> LinearAttentionLayers { get; init; }
    public required bool TieWordEmbeddings { get; init; }
    public required int? ImageTokenId { get; init; }

    // Gated DeltaNet (zero when the model has none).
    public int LinearKeyHeads { get; init; }
    public int LinearValueHeads { get; init; }
    public int LinearKeyHeadDim { get; init; }
    public int LinearValueHeadDim { get; init; }
    public int ConvKernel { get; init; }

    // MoE (zero when dense).
    public int NumExpertsPerToken { get; init; }
    public int MoeIntermediate { get; init; }

    public VisionDims? Vision { get; init; }

    public RmsNormStyle NormStyle => Traits.ZeroCenteredNorms ? RmsNormStyle.ZeroCentered : RmsNormStyle.Plain;
    /// <summary>The attention's q_proj also yields a per-head output gate (Qwen3.5).</summary>
    public bool AttentionOutputGate => Traits.AttentionOutputGate;

    public static ReferenceConfig FromHf(HfConfig config)
    {
        var text = config.Text;
        string where = text.Where;
        int Need(int? value, string field) => value is > 0 ? value.Value : throw new InvalidInputException($"{where}: {field} is missing or not a positive integer");

        // Dispatched as every conversion is: on architectures, through the bridge registry (model_type plays no part).
        var traits = BridgeRegistry.Resolve(config).Reference;
        var layerTypes = text.LayerTypes;

        if (text.HiddenAct is { } act && act != "silu")
            throw new InvalidInputException($"{where}: hidden_act '{act}' is not supported by the reference forward (expected silu)");
        if (text.AttentionBias == true)
            throw new InvalidInputException($"{where}: attention_bias true is not supported by the reference forward (Qwen3.5 / Qwen3-VL have no attention biases)");
        int hidden = Need(text.HiddenSize, "hidden_size");
        int layers = Need(text.NumHiddenLayers, "num_hidden_layers");
        int heads = Need(text.NumAttentionHeads, "num_attention_heads");
        int kvHeads = Need(text.NumKeyValueHeads ?? heads, "num_key_value_heads");
        if (heads % kvHeads != 0) throw new InvalidInputException($"{where}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        int headDim = text.HeadDim ?? hidden / heads;
        if (headDim <= 0 || headDim % 2 != 0) throw new InvalidInputException($"{where}: head_dim {headDim} must be a positive even number");

        double theta = text.RopeTheta ?? throw new InvalidInputException($"{where}: rope_theta (rope_parameters.rope_theta) is missing");
        double partial = text.PartialRotaryFactor ?? 1.0;
        int rotaryDims = (int)(headDim * partial);
        if (rotaryDims <= 0 || rotaryDims % 2 != 0 || rotaryDims > headDim)
            throw new InvalidInputException($"{where}: partial_rotary_factor {partial} gives {rotaryDims} rotary dims of head_dim {headDim}");
        // transformers' defaults when rope_parameters has no mrope_section.
        var section = text.MropeSection ?? traits.DefaultMropeSection;
        if (section.Count != 3 || section.Any(s => s < 0))
            throw new InvalidInputException($"{where}: mrope_section [{string.Join(", ", section)}] must be 3 non-negative sizes (T, H, W)");

        var linear = new bool[layers];
        if (traits.HybridLinearAttention)
        {
            // transformers' Qwen3.5 text config derives layer_types from full_attention_interval (default 4) when absent.
            if (layerTypes is null)
            {
                int every = text.FullAttentionInterval ?? 4;
                if (every <= 0) throw new InvalidInputException($"{where}: full_attention_interval must be positive, got {every}");
                layerTypes = Enumerable.Range(0, layers).Select(i => (i + 1) % every == 0 ? "full_attention" : "linear_attention").ToArray();
            }
            if (layerTypes.Count < layers) throw new InvalidInputException($"{where}: layer_types has {layerTypes.Count} entries for {layers} layers");
            for (int i = 0; i < layers; i++)
            {
                linear[i] = layerTypes[i] switch
                {
                    "linear_attention" => true,
                    "full_attention" => false,
                    var other => throw new InvalidInputException($"{where}: layer_types[{i}] is '{other}', expected linear_attention or full_attention"),
                };
            }
        }

        bool anyLinear = linear.Any(l => l);
        int numExperts = text.NumExperts ?? text.Int("num_local_experts") ?? 0;
        var result = new ReferenceConfig
        {
            Where = where,
            Traits = traits,
            Hidden = hidden,
            Layers = layers,
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            Vocab = Need(text.VocabSize, "vocab_size"),
            RmsEps = (float)(text.RmsNormEps ?? 1e-6),
            RopeTheta = theta,
            RotaryFrequencies = rotaryDims / 2,
            MropeSection = section,
            // Both families' rotary embeddings interleave T/H/W whatever mrope_interleaved says.
            MropeInterleaved = true,
            LinearAttentionLayers = linear,
            // VL checkpoints: the top level is authoritative; LM-only: the (flat) text config.
            TieWordEmbeddings = (config.HasTextConfig ? config.TieWordEmbeddings ?? text.TieWordEmbeddings : text.TieWordEmbeddings) ?? false,
            ImageTokenId = config.ImageTokenId,
            LinearKeyHeads = anyLinear ? Need(text.LinearNumKeyHeads, "linear_num_key_heads") : 0,
            LinearValueHeads = anyLinear ? Need(text.LinearNumValueHeads, "linear_num_value_heads") : 0,
            LinearKeyHeadDim = anyLinear ? Need(text.LinearKeyHeadDim, "linear_key_head_dim") : 0,
            LinearValueHeadDim = anyLinear ? Need(text.LinearValueHeadDim, "linear_value_head_dim") : 0,
            ConvKernel = anyLinear ? Need(text.LinearConvKernelDim, "linear_conv_kernel_dim") : 0,
            NumExpertsPerToken = numExperts > 0 ? Need(text.NumExpertsPerTok, "num_experts_per_tok") : 0,
            MoeIntermediate = numExperts > 0 ? Need(text.MoeIntermediateSize, "moe_intermediate_size") : 0,
            Vision = config.Vision is null ? null : ReadVision(config.Vision, traits),
        };
        if (anyLinear && result.LinearValueHeads % result.LinearKeyHeads != 0)
            throw new InvalidInputException($"{where}: linear_num_value_heads {result.LinearValueHeads} is not a multiple of linear_num_key_heads {result.LinearKeyHeads}");
        return result;
    }

    private static VisionDims ReadVision(VisionConfig v, ReferenceTraits traits)
    {
        int Need(int? value, string field) => value is > 0 ? value.Value : throw new InvalidInputException($"{v.Where}: {field} is missing or not a positive integer");
        var dims = new VisionDims(
            Need(v.Depth, "depth"), Need(v.HiddenSize, "hidden_size"), Need(v.IntermediateSize, "intermediate_size"),
            Need(v.NumHeads, "num_heads"), Need(v.InChannels ?? 3, "in_channels"), Need(v.PatchSize, "patch_size"),
            Need(v.TemporalPatchSize ?? 2, "temporal_patch_size"), Need(v.SpatialMergeSize ?? 2, "spatial_merge_size"),
            Need(v.OutHiddenSize, "out_hidden_size"), Need(v.NumPositionEmbeddings, "num_position_embeddings"),
            v.RopeTheta ?? 10000.0, v.DeepstackVisualIndexes,
            v.HiddenAct switch
            {
                null or "gelu_pytorch_tanh" => true,
                "gelu" => false,
                var other => throw new InvalidInputException($"{v.Where}: hidden_act '{other}' is not supported by the reference forward (expected gelu_pytorch_tanh or gelu)"),
            },
            // Qwen3-VL reads these from the config (defaults bilinear, align_corners); Qwen3.5 fixes them so.
            traits.VisionInterpolationFromConfig ? v.Bool("interpolation_align_corners") ?? true : true);
        if (traits.VisionInterpolationFromConfig && v.String("interpolation_mode") is { } mode && mode != "bilinear")
            throw new InvalidInputException($"{v.Where}: interpolation_mode '{mode}' is not supported by the reference forward (expected bilinear)");
        if (dims.Hidden % dims.Heads != 0 || dims.HeadDim % 4 != 0)
            throw new InvalidInputException($"{v.Where}: hidden_size {dims.Hidden} / num_heads {dims.Heads} must give a head dim divisible by 4");
        int side = (int)Math.Round(Math.Sqrt(dims.NumPositionEmbeddings));
        if (side * side != dims.NumPositionEmbeddings)
            throw new InvalidInputException($"{v.Where}: num_position_embeddings {dims.NumPositionEmbeddings} is not a square");
        foreach (int i in dims.DeepstackIndexes)
            if (i < 0 || i >= dims.Depth) throw new InvalidInputException($"{v.Where}: deepstack_visual_indexes has {i}, outside depth {dims.Depth}");
        return dims;
    }
}
