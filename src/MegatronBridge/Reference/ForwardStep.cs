namespace MegatronBridge.Reference;

/// <summary>
/// A point of the forward pass where two layouts of one model must agree: the hidden state after a sub-block
/// (<paramref name="Stage"/>, one of <see cref="ForwardStages"/>) of layer or block <paramref name="Index"/>, or the
/// final logits. <paramref name="Values"/> is the live state: read it before asking for the next step.
/// </summary>
internal sealed record ForwardStep(string Stage, int Index, float[] Values)
{
    /// <summary>"decoder layer 3, attention", "vision block 0", "logits".</summary>
    public string Where => Stage switch
    {
        ForwardStages.Logits or ForwardStages.Embedding or ForwardStages.VisionPatchEmbedding or ForwardStages.VisionMerger => Stage,
        ForwardStages.VisionBlock => $"vision block {Index}",
        ForwardStages.DeepstackMerger => $"deepstack merger {Index}",
        _ => $"decoder layer {Index}, {Stage}",
    };
}

/// <summary>The sub-blocks after which <see cref="ReferenceModel.Steps"/> reports the hidden state.</summary>
internal static class ForwardStages
{
    public const string VisionPatchEmbedding = "vision patch embedding";
    public const string VisionBlock = "vision block";
    public const string DeepstackMerger = "deepstack merger";
    public const string VisionMerger = "vision merger";
    public const string Embedding = "embedding";
    public const string Attention = "attention";
    public const string GdnMixer = "GDN mixer";
    public const string Mlp = "MLP";
    public const string Experts = "experts";
    public const string Logits = "logits";
}
