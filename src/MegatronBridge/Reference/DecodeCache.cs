namespace MegatronBridge.Reference;

/// <summary>What one decoder layer keeps between decode steps.</summary>
internal abstract class LayerCache;

/// <summary>Keys and values (after norm and RoPE) of every token seen so far by one attention layer.</summary>
internal sealed class AttentionCache : LayerCache
{
    public List<float> Keys { get; } = new();
    public List<float> Values { get; } = new();
    public int Tokens { get; set; }
}

/// <summary>Gated DeltaNet state: the last (kernel - 1) conv inputs and the recurrent state per value head.</summary>
internal sealed class LinearAttentionCache(int convChannels, int kernel, int valueHeads, int keyHeadDim, int valueHeadDim) : LayerCache
{
    /// <summary>[kernel - 1, channels]: the conv inputs of the latest tokens, oldest first (zeros before the start).</summary>
    public float[] ConvInputs { get; } = new float[(kernel - 1) * convChannels];
    /// <summary>[value heads, dk, dv].</summary>
    public float[] State { get; } = new float[valueHeads * keyHeadDim * valueHeadDim];
}

/// <summary>
/// Everything a decoder needs to continue a sequence one token at a time: per-layer caches and the next text
/// position (mRoPE positions continue from the largest prompt position + 1).
/// </summary>
internal sealed class DecodeCache
{
    public DecodeCache(ReferenceConfig c)
    {
        Layers = new LayerCache[c.Layers];
        for (int i = 0; i < c.Layers; i++)
        {
            Layers[i] = c.LinearAttentionLayers[i]
                ? new LinearAttentionCache(2 * c.LinearKeyHeads * c.LinearKeyHeadDim + c.LinearValueHeads * c.LinearValueHeadDim,
                    c.ConvKernel, c.LinearValueHeads, c.LinearKeyHeadDim, c.LinearValueHeadDim)
                : new AttentionCache();
        }
    }

    /// <summary>Per layer: an <see cref="AttentionCache"/> or a <see cref="LinearAttentionCache"/>.</summary>
    public LayerCache[] Layers { get; }
    public int Tokens { get; set; }
    public int NextPosition { get; set; }
}
