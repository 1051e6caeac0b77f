using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>
/// Megatron-Bridge's <c>GPTModelProvider</c> (with the mcore <c>TransformerConfig</c> fields that matter for
/// conversion), defaults as declared in Python. The LM-only Qwen3.5 bridges produce exactly this
/// type; the VL providers derive from it. JSON names are the Python field names, misspellings included.
/// Fields that mcore derives in <c>__post_init__</c> when left None (kv_channels, num_query_groups,
/// ffn_hidden_size) read as the derived value.
/// </summary>
public record GptModelProvider
{
    private int? _numQueryGroups;
    private int? _kvChannels;
    private int? _ffnHiddenSize;

    /// <summary>The Python class name ("GPTModelProvider", "Qwen35VLModelProvider", ...).</summary>
    [JsonIgnore] public virtual string ProviderName => "GPTModelProvider";

    // Parallelism (conversion runs at tp = pp = 1 unless a layout says otherwise).
    public int TensorModelParallelSize { get; init; } = 1;
    public int PipelineModelParallelSize { get; init; } = 1;
    public int ContextParallelSize { get; init; } = 1;
    public int ExpertModelParallelSize { get; init; } = 1;
    public bool SequenceParallel { get; init; }

    // Geometry.
    public required int NumLayers { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int VocabSize { get; init; }

    /// <summary>KV heads; mcore uses num_attention_heads when unset.</summary>
    public int NumQueryGroups { get => _numQueryGroups ?? NumAttentionHeads; init => _numQueryGroups = value; }

    /// <summary>Attention head dim; mcore uses hidden_size / num_attention_heads when unset.</summary>
    public int KvChannels { get => _kvChannels ?? (NumAttentionHeads > 0 ? HiddenSize / NumAttentionHeads : 0); init => _kvChannels = value; }

    /// <summary>Dense MLP intermediate size; mcore uses 4 * hidden_size when unset.</summary>
    public int FfnHiddenSize { get => _ffnHiddenSize ?? 4 * HiddenSize; init => _ffnHiddenSize = value; }

    public int SeqLength { get; init; } = 1024;
    public int MakeVocabSizeDivisibleBy { get; init; } = 128;
    public bool ShouldPadVocab { get; init; }

    // Numerics.
    public double LayernormEpsilon { get; init; } = 1e-5;
    public double InitMethodStd { get; init; } = 0.02;
    public double AttentionDropout { get; init; } = 0.1;
    public double HiddenDropout { get; init; } = 0.1;
    /// <summary>torch dtype name without "torch." ("bfloat16", "float32", ...).</summary>
    public string ParamsDtype { get; init; } = "float32";
    public bool Bf16 { get; init; }
    /// <summary>
    /// The dtype the HF config declares for the checkpoint (text_config's, else the top level's, else float32): what a
    /// conversion writes unless told otherwise. Not a Python field: params_dtype reads text_config alone.
    /// </summary>
    [JsonIgnore] public string CheckpointDtype { get; init; } = "float32";
    public bool Fp16 { get; init; }
    public string? AutocastDtype { get; init; }
    /// <summary>GPTModelProvider declares False (mcore's own default is True).</summary>
    public bool AttentionSoftmaxInFp32 { get; init; }
    public bool Fp16LmCrossEntropy { get; init; }
    public bool MaskedSoftmaxFusion { get; init; } = true;
    public bool DeallocatePipelineOutputs { get; init; } = true;
    public bool ScatterEmbeddingSequenceParallel { get; init; } = true;

    // Layer structure.
    public string Normalization { get; init; } = "LayerNorm";
    public bool LayernormZeroCenteredGamma { get; init; }
    /// <summary>The HF activation name ("silu", "gelu_pytorch_tanh", ...); mcore's default is gelu.</summary>
    public string ActivationFunc { get; init; } = "gelu";
    public bool GatedLinearUnit { get; init; }
    public bool AddBiasLinear { get; init; } = true;
    public bool AddQkvBias { get; init; }
    public bool QkLayernorm { get; init; }
    public bool AttentionOutputGate { get; init; }
    public bool ShareEmbeddingsAndOutputWeights { get; init; } = true;
    public string TransformerLayerSpec { get; init; } = "default_layer_spec";
    public bool HetereogenousDistCheckpoint { get; init; }

    // Position embedding.
    public string PositionEmbeddingType { get; init; } = "learned_absolute";
    public double RotaryBase { get; init; } = 10000;
    public double RotaryPercent { get; init; } = 1.0;

    // Gated DeltaNet (hybrid layout).
    public string? ExperimentalAttentionVariant { get; init; }
    public LinearAttentionFrequency? LinearAttentionFreq { get; init; }
    public int LinearConvKernelDim { get; init; } = 4;
    public int LinearKeyHeadDim { get; init; } = 128;
    public int LinearValueHeadDim { get; init; } = 128;
    public int LinearNumKeyHeads { get; init; } = 16;
    public int LinearNumValueHeads { get; init; } = 32;

    // Mixture of experts.
    public int? NumMoeExperts { get; init; }
    public int MoeRouterTopk { get; init; } = 2;
    public int? MoeFfnHiddenSize { get; init; }
    public int? MoeSharedExpertIntermediateSize { get; init; }
    public bool MoeSharedExpertGate { get; init; }
    public int MoeLayerFreq { get; init; } = 1;
    public bool MoeGroupedGemm { get; init; }
    public string MoeRouterLoadBalancingType { get; init; } = "aux_loss";
    public double MoeAuxLossCoeff { get; init; }
    public string MoeRouterScoreFunction { get; init; } = "softmax";
    public bool MoeRouterPreSoftmax { get; init; }
    public string? MoeRouterDtype { get; init; }
    public string MoeTokenDispatcherType { get; init; } = "allgather";
    public bool MoePermuteFusion { get; init; }

    // Multi-token prediction.
    public int? MtpNumLayers { get; init; }
    /// <summary>mcore's TransformerConfig declares 0.1, with or without MTP layers.</summary>
    public double? MtpLossScalingFactor { get; init; } = 0.1;
    public bool MtpEnabled { get; init; }

    // Token ids (plain attributes set by the Qwen bridges; None where the config holds null).
    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }

    /// <summary>The vision encoder's config (built at provide() in Python); null for language-only providers.</summary>
    [JsonIgnore] public VisionTransformerConfig? Vision { get; init; }

    // ---- Questions the mapping tables and the reference forward ask. ----

    /// <summary>The token mixer of every decoder layer (attention everywhere without a linear-attention pattern).</summary>
    [JsonIgnore]
    public IReadOnlyList<DecoderLayerKind> DecoderLayerKinds =>
        LinearAttentionFreq is null || ExperimentalAttentionVariant is null
            ? Enumerable.Repeat(DecoderLayerKind.Attention, NumLayers).ToArray()
            : LinearAttentionFreq.LayerKinds(NumLayers);

    /// <summary>"G G G A ..." for the decoder layers.</summary>
    [JsonIgnore] public string LayerLayout => Providers.DecoderLayerKinds.Layout(DecoderLayerKinds);

    [JsonIgnore] public bool IsMoe => NumMoeExperts is > 0;

    /// <summary>Whether decoder layer <paramref name="layer"/> has a MoE MLP (moe_layer_freq 1: every layer when MoE).</summary>
    public bool IsMoeLayer(int layer)
    {
        if ((uint)layer >= (uint)NumLayers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"the model has {NumLayers} decoder layers");
        return IsMoe && layer % MoeLayerFreq == 0;
    }

    [JsonIgnore] public bool HasVision => Vision is not null;
    [JsonIgnore] public int MtpLayers => MtpNumLayers ?? 0;
    [JsonIgnore] public int NumExperts => NumMoeExperts ?? 0;
    /// <summary>Routed expert FFN size (mcore falls back to ffn_hidden_size).</summary>
    [JsonIgnore] public int MoeExpertFfnHiddenSize => MoeFfnHiddenSize ?? FfnHiddenSize;

    /// <summary>Query heads per KV group (nh / ng).</summary>
    [JsonIgnore] public int QueryHeadsPerGroup => NumAttentionHeads / NumQueryGroups;
    /// <summary>GDN value heads per key head (nv / nk).</summary>
    [JsonIgnore] public int ValueHeadsPerKeyHead => LinearNumValueHeads / LinearNumKeyHeads;
    /// <summary>Has MoE shared experts (Qwen3.5/3.6 MoE).</summary>
    [JsonIgnore] public bool HasSharedExperts => IsMoe && MoeSharedExpertIntermediateSize is > 0;

    /// <summary>The MTP block's inner layer is built from the last decoder layer's spec (attention kind and MLP kind).</summary>
    [JsonIgnore] public DecoderLayerKind MtpLayerKind => DecoderLayerKinds[^1];
    [JsonIgnore] public bool MtpLayerIsMoe => IsMoeLayer(NumLayers - 1);

    /// <summary>GDN sizes: qkd = nk*dk, vd = nv*dv, conv channels = 2*qkd + vd.</summary>
    [JsonIgnore] public int LinearQueryKeyDim => LinearNumKeyHeads * LinearKeyHeadDim;
    [JsonIgnore] public int LinearValueDim => LinearNumValueHeads * LinearValueHeadDim;
    [JsonIgnore] public int LinearConvChannels => 2 * LinearQueryKeyDim + LinearValueDim;

    /// <summary>mRoPE sections (t, h, w) in rotary frequency pairs; null (and not serialised) for plain RoPE.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<int>? MropeSection { get; init; }
}
