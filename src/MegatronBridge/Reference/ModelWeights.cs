namespace MegatronBridge.Reference;

// The weights of the reference forward, in float32, matrices in the PyTorch Linear layout. A loader fills these
// from one checkpoint layout (HfWeightLoader for Hugging Face names, MegatronWeightLoader for Megatron's fused
// tensors); fused projections are described as ProjectionSets, so the math never sees tensor names or layouts.

/// <summary>Part indices of an attention layer's <see cref="AttentionWeights.Qkv"/> projections.</summary>
internal static class AttentionParts
{
    /// <summary>[heads * head_dim], heads consecutive.</summary>
    public const int Query = 0;
    /// <summary>[kv_heads * head_dim].</summary>
    public const int Key = 1;
    public const int Value = 2;
    /// <summary>Qwen3.5 output gate [heads * head_dim] (absent in Qwen3-VL).</summary>
    public const int Gate = 3;
}

/// <summary>Softmax attention: query (+ output gate), key and value projections, output projection, q/k norms.</summary>
internal sealed record AttentionWeights(ProjectionSet Qkv, Matrix O, float[] QNorm, float[] KNorm);

/// <summary>Part indices of a Gated DeltaNet layer's <see cref="GatedDeltaNetWeights.InProj"/> projections.</summary>
internal static class GdnParts
{
    /// <summary>The conv1d input [q (nk*dk) ; k (nk*dk) ; v (nv*dv)].</summary>
    public const int Qkv = 0;
    /// <summary>Output-norm gate [nv*dv].</summary>
    public const int Z = 1;
    /// <summary>beta logits [nv].</summary>
    public const int B = 2;
    /// <summary>decay input [nv].</summary>
    public const int A = 3;
}

/// <summary>Gated DeltaNet token mixer; <paramref name="Norm"/> is the plain multiplier of the gated RMSNorm.</summary>
internal sealed record GatedDeltaNetWeights(
    ProjectionSet InProj, float[] Conv1d, float[] DtBias, float[] ALog, float[] Norm, Matrix OutProj);

/// <summary>SwiGLU MLP: down(silu(gate x) * up x); <paramref name="GateUp"/> has part 0 = gate, part 1 = up.</summary>
internal sealed record MlpWeights(ProjectionSet GateUp, Matrix Down)
{
    public MlpWeights(Matrix gate, Matrix up, Matrix down) : this(ProjectionSet.Separate(gate, up), down) { }

    public Matrix Gate => GateUp.PartWeights(0);
    public Matrix Up => GateUp.PartWeights(1);
}

/// <summary>Routed experts (+ optional shared expert with a sigmoid gate).</summary>
internal sealed record MoeWeights(Matrix Router, IReadOnlyList<MlpWeights> Experts, MlpWeights? SharedExpert, Matrix? SharedExpertGate);

internal sealed record DecoderLayerWeights(
    float[] InputNorm, float[] PostAttentionNorm,
    AttentionWeights? Attention, GatedDeltaNetWeights? LinearAttention,
    MlpWeights? Mlp, MoeWeights? Moe);

/// <summary>
/// A vision block: LayerNorm, qkv attention with bias (parts 0/1/2 = q/k/v, heads consecutive), LayerNorm, GELU MLP
/// with bias.
/// </summary>
internal sealed record VisionBlockWeights(
    float[] Norm1Weight, float[] Norm1Bias, ProjectionSet Qkv, Matrix Proj, float[] ProjBias,
    float[] Norm2Weight, float[] Norm2Bias, Matrix Fc1, float[] Fc1Bias, Matrix Fc2, float[] Fc2Bias);

/// <summary>Patch merger: LayerNorm (per patch, or after the 2x2 shuffle for deepstack), fc1, GELU, fc2.</summary>
internal sealed record PatchMergerWeights(float[] NormWeight, float[] NormBias, Matrix Fc1, float[] Fc1Bias, Matrix Fc2, float[] Fc2Bias, bool PostShuffleNorm);

internal sealed record VisionWeights(
    Matrix PatchEmbed, float[] PatchEmbedBias, Matrix PositionEmbedding,
    IReadOnlyList<VisionBlockWeights> Blocks, PatchMergerWeights Merger, IReadOnlyList<PatchMergerWeights> DeepstackMergers);

internal sealed record ModelWeights(
    Matrix Embedding, IReadOnlyList<DecoderLayerWeights> Layers, float[] FinalNorm, Matrix LmHead, VisionWeights? Vision);
