using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>
/// Megatron-Bridge's <c>GPTModelProvider</c> (with the mcore <c>TransformerConfig</c> fields that matter for
/// conversion), defaults as declared in Python (bridge-spec §2.9). The LM-only Qwen3.5 bridges produce exactly this
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
    [JsonPropertyName("tensor_model_parallel_size")] public int TensorModelParallelSize { get; init; } = 1;
    [JsonPropertyName("pipeline_model_parallel_size")] public int PipelineModelParallelSize { get; init; } = 1;
    [JsonPropertyName("context_parallel_size")] public int ContextParallelSize { get; init; } = 1;
    [JsonPropertyName("expert_model_parallel_size")] public int ExpertModelParallelSize { get; init; } = 1;
    [JsonPropertyName("sequence_parallel")] public bool SequenceParallel { get; init; }

    // Geometry.
    [JsonPropertyName("num_layers")] public required int NumLayers { get; init; }
    [JsonPropertyName("hidden_size")] public required int HiddenSize { get; init; }
    [JsonPropertyName("num_attention_heads")] public required int NumAttentionHeads { get; init; }
    [JsonPropertyName("vocab_size")] public required int VocabSize { get; init; }

    /// <summary>KV heads; mcore uses num_attention_heads when unset.</summary>
    [JsonPropertyName("num_query_groups")]
    public int NumQueryGroups { get => _numQueryGroups ?? NumAttentionHeads; init => _numQueryGroups = value; }

    /// <summary>Attention head dim; mcore uses hidden_size / num_attention_heads when unset.</summary>
    [JsonPropertyName("kv_channels")]
    public int KvChannels { get => _kvChannels ?? (NumAttentionHeads > 0 ? HiddenSize / NumAttentionHeads : 0); init => _kvChannels = value; }

    /// <summary>Dense MLP intermediate size; mcore uses 4 * hidden_size when unset.</summary>
    [JsonPropertyName("ffn_hidden_size")]
    public int FfnHiddenSize { get => _ffnHiddenSize ?? 4 * HiddenSize; init => _ffnHiddenSize = value; }

    [JsonPropertyName("seq_length")] public int SeqLength { get; init; } = 1024;
    [JsonPropertyName("make_vocab_size_divisible_by")] public int MakeVocabSizeDivisibleBy { get; init; } = 128;
    [JsonPropertyName("should_pad_vocab")] public bool ShouldPadVocab { get; init; }

    // Numerics.
    [JsonPropertyName("layernorm_epsilon")] public double LayernormEpsilon { get; init; } = 1e-5;
    [JsonPropertyName("init_method_std")] public double InitMethodStd { get; init; } = 0.02;
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; } = 0.1;
    [JsonPropertyName("hidden_dropout")] public double HiddenDropout { get; init; } = 0.1;
    /// <summary>torch dtype name without "torch." ("bfloat16", "float32", ...).</summary>
    [JsonPropertyName("params_dtype")] public string ParamsDtype { get; init; } = "float32";
    [JsonPropertyName("bf16")] public bool Bf16 { get; init; }
    /// <summary>
    /// The dtype the HF config declares for the checkpoint (text_config's, else the top level's, else float32): what a
    /// conversion writes unless told otherwise. Not a Python field: params_dtype reads text_config alone.
    /// </summary>
    [JsonIgnore] public string CheckpointDtype { get; init; } = "float32";
    [JsonPropertyName("fp16")] public bool Fp16 { get; init; }
    [JsonPropertyName("autocast_dtype")] public string? AutocastDtype { get; init; }
    /// <summary>GPTModelProvider declares False (mcore's own default is True).</summary>
    [JsonPropertyName("attention_softmax_in_fp32")] public bool AttentionSoftmaxInFp32 { get; init; }
    [JsonPropertyName("fp16_lm_cross_entropy")] public bool Fp16LmCrossEntropy { get; init; }
    [JsonPropertyName("masked_softmax_fusion")] public bool MaskedSoftmaxFusion { get; init; } = true;
    [JsonPropertyName("deallocate_pipeline_outputs")] public bool DeallocatePipelineOutputs { get; init; } = true;
    [JsonPropertyName("scatter_embedding_sequence_parallel")] public bool ScatterEmbeddingSequenceParallel { get; init; } = true;

    // Layer structure.
    [JsonPropertyName("normalization")] public string Normalization { get; init; } = "LayerNorm";
    [JsonPropertyName("layernorm_zero_centered_gamma")] public bool LayernormZeroCenteredGamma { get; init; }
    /// <summary>The HF activation name ("silu", "gelu_pytorch_tanh", ...); mcore's default is gelu.</summary>
    [JsonPropertyName("activation_func")] public string ActivationFunc { get; init; } = "gelu";
    [JsonPropertyName("gated_linear_unit")] public bool GatedLinearUnit { get; init; }
    [JsonPropertyName("add_bias_linear")] public bool AddBiasLinear { get; init; } = true;
    [JsonPropertyName("add_qkv_bias")] public bool AddQkvBias { get; init; }
    [JsonPropertyName("qk_layernorm")] public bool QkLayernorm { get; init; }
    [JsonPropertyName("attention_output_gate")] public bool AttentionOutputGate { get; init; }
    [JsonPropertyName("share_embeddings_and_output_weights")] public bool ShareEmbeddingsAndOutputWeights { get; init; } = true;
    [JsonPropertyName("transformer_layer_spec")] public string TransformerLayerSpec { get; init; } = "default_layer_spec";
    [JsonPropertyName("hetereogenous_dist_checkpoint")] public bool HetereogenousDistCheckpoint { get; init; }

    // Position embedding.
    [JsonPropertyName("position_embedding_type")] public string PositionEmbeddingType { get; init; } = "learned_absolute";
    [JsonPropertyName("rotary_base")] public double RotaryBase { get; init; } = 10000;
    [JsonPropertyName("rotary_percent")] public double RotaryPercent { get; init; } = 1.0;

    // Gated DeltaNet (hybrid layout).
    [JsonPropertyName("experimental_attention_variant")] public string? ExperimentalAttentionVariant { get; init; }
    [JsonPropertyName("linear_attention_freq")] public LinearAttentionFrequency? LinearAttentionFreq { get; init; }
    [JsonPropertyName("linear_conv_kernel_dim")] public int LinearConvKernelDim { get; init; } = 4;
    [JsonPropertyName("linear_key_head_dim")] public int LinearKeyHeadDim { get; init; } = 128;
    [JsonPropertyName("linear_value_head_dim")] public int LinearValueHeadDim { get; init; } = 128;
    [JsonPropertyName("linear_num_key_heads")] public int LinearNumKeyHeads { get; init; } = 16;
    [JsonPropertyName("linear_num_value_heads")] public int LinearNumValueHeads { get; init; } = 32;

    // Mixture of experts.
    [JsonPropertyName("num_moe_experts")] public int? NumMoeExperts { get; init; }
    [JsonPropertyName("moe_router_topk")] public int MoeRouterTopk { get; init; } = 2;
    [JsonPropertyName("moe_ffn_hidden_size")] public int? MoeFfnHiddenSize { get; init; }
    [JsonPropertyName("moe_shared_expert_intermediate_size")] public int? MoeSharedExpertIntermediateSize { get; init; }
    [JsonPropertyName("moe_shared_expert_gate")] public bool MoeSharedExpertGate { get; init; }
    [JsonPropertyName("moe_layer_freq")] public int MoeLayerFreq { get; init; } = 1;
    [JsonPropertyName("moe_grouped_gemm")] public bool MoeGroupedGemm { get; init; }
    [JsonPropertyName("moe_router_load_balancing_type")] public string MoeRouterLoadBalancingType { get; init; } = "aux_loss";
    [JsonPropertyName("moe_aux_loss_coeff")] public double MoeAuxLossCoeff { get; init; }
    [JsonPropertyName("moe_router_score_function")] public string MoeRouterScoreFunction { get; init; } = "softmax";
    [JsonPropertyName("moe_router_pre_softmax")] public bool MoeRouterPreSoftmax { get; init; }
    [JsonPropertyName("moe_router_dtype")] public string? MoeRouterDtype { get; init; }
    [JsonPropertyName("moe_token_dispatcher_type")] public string MoeTokenDispatcherType { get; init; } = "allgather";
    [JsonPropertyName("moe_permute_fusion")] public bool MoePermuteFusion { get; init; }

    // Multi-token prediction.
    [JsonPropertyName("mtp_num_layers")] public int? MtpNumLayers { get; init; }
    /// <summary>mcore's TransformerConfig declares 0.1, with or without MTP layers.</summary>
    [JsonPropertyName("mtp_loss_scaling_factor")] public double? MtpLossScalingFactor { get; init; } = 0.1;
    [JsonPropertyName("mtp_enabled")] public bool MtpEnabled { get; init; }

    // Token ids (plain attributes set by the Qwen bridges; None where the config holds null).
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; init; }

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
    [JsonIgnore] public bool TiedEmbeddings => ShareEmbeddingsAndOutputWeights;
    [JsonIgnore] public bool ZeroCenteredNorms => LayernormZeroCenteredGamma;
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
    [JsonPropertyName("mrope_section")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<int>? MropeSection { get; init; }
}
