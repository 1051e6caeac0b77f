namespace MegatronBridge.Reference;

// The weights of the reference forward, in float32 and in the unfused PyTorch Linear layout. A loader fills these
// from one checkpoint layout (HfWeightLoader for Hugging Face names; a Megatron loader splits fused tensors into the
// same pieces), so the math never sees tensor names.

/// <summary>Softmax attention (Qwen3.5 gated: Q has 2 * heads * head_dim rows, query then gate per head).</summary>
public sealed record AttentionWeights(Matrix Q, Matrix K, Matrix V, Matrix O, float[] QNorm, float[] KNorm);

/// <summary>Gated DeltaNet token mixer.</summary>
public sealed record GatedDeltaNetWeights(
    Matrix InProjQkv, Matrix InProjZ, Matrix InProjB, Matrix InProjA,
    float[] Conv1d, float[] DtBias, float[] ALog, float[] Norm, Matrix OutProj);

/// <summary>SwiGLU MLP: down(silu(gate x) * up x).</summary>
public sealed record MlpWeights(Matrix Gate, Matrix Up, Matrix Down);

/// <summary>Routed experts (+ optional shared expert with a sigmoid gate).</summary>
public sealed record MoeWeights(Matrix Router, IReadOnlyList<MlpWeights> Experts, MlpWeights? SharedExpert, Matrix? SharedExpertGate);

public sealed record DecoderLayerWeights(
    float[] InputNorm, float[] PostAttentionNorm,
    AttentionWeights? Attention, GatedDeltaNetWeights? LinearAttention,
    MlpWeights? Mlp, MoeWeights? Moe);

/// <summary>A vision block: LayerNorm, fused qkv attention with bias, LayerNorm, GELU(tanh) MLP with bias.</summary>
public sealed record VisionBlockWeights(
    float[] Norm1Weight, float[] Norm1Bias, Matrix Qkv, float[] QkvBias, Matrix Proj, float[] ProjBias,
    float[] Norm2Weight, float[] Norm2Bias, Matrix Fc1, float[] Fc1Bias, Matrix Fc2, float[] Fc2Bias);

/// <summary>Patch merger: LayerNorm (per patch, or after the 2x2 shuffle for deepstack), fc1, GELU, fc2.</summary>
public sealed record PatchMergerWeights(float[] NormWeight, float[] NormBias, Matrix Fc1, float[] Fc1Bias, Matrix Fc2, float[] Fc2Bias, bool PostShuffleNorm);

public sealed record VisionWeights(
    Matrix PatchEmbed, float[] PatchEmbedBias, Matrix PositionEmbedding,
    IReadOnlyList<VisionBlockWeights> Blocks, PatchMergerWeights Merger, IReadOnlyList<PatchMergerWeights> DeepstackMergers);

public sealed record ModelWeights(
    Matrix Embedding, IReadOnlyList<DecoderLayerWeights> Layers, float[] FinalNorm, Matrix LmHead, VisionWeights? Vision);
