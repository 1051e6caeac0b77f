using System.Numerics.Tensors;
using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>
/// Causal softmax attention of the decoder: per-head q/k RMSNorm, (m)RoPE on the first rotary dims, GQA, scale
/// 1/sqrt(head_dim). Qwen3.5 variant: the projections also yield an output gate per head and the output is multiplied
/// by sigmoid(gate) before o_proj.
/// </summary>
internal static class Attention
{
    /// <summary>
    /// Attention of <paramref name="tokens"/> new tokens; with a cache they also see (and are appended to) the keys
    /// and values of earlier calls. <paramref name="rope"/> holds the new tokens' positions.
    /// </summary>
    public static float[] Forward(ReadOnlySpan<float> x, int tokens, AttentionWeights w, ReferenceConfig c, RopeTable rope, AttentionCache? cache = null)
    {
        int d = c.HeadDim, heads = c.Heads, kvHeads = c.KvHeads;
        if (w.Qkv.PartWidths.Count != (c.AttentionOutputGate ? 4 : 3))
            throw new InvalidInputException($"{w.O.Name}: the attention projections have {w.Qkv.PartWidths.Count} parts, expected {(c.AttentionOutputGate ? "query, key, value and gate" : "query, key and value")}");
        var parts = w.Qkv.Apply(x, tokens);
        var q = parts[AttentionParts.Query];
        var k = parts[AttentionParts.Key];
        var v = parts[AttentionParts.Value];
        float[]? gate = c.AttentionOutputGate ? parts[AttentionParts.Gate] : null;

        Norms.RmsNormInPlace(q, w.QNorm, c.RmsEps, c.NormStyle);
        Norms.RmsNormInPlace(k, w.KNorm, c.RmsEps, c.NormStyle);
        for (int t = 0; t < tokens; t++)
        {
            for (int hd = 0; hd < heads; hd++) rope.Apply(q.AsSpan((t * heads + hd) * d, d), t);
            for (int hd = 0; hd < kvHeads; hd++) rope.Apply(k.AsSpan((t * kvHeads + hd) * d, d), t);
        }

        int past = 0;
        if (cache is not null)
        {
            past = cache.Tokens;
            cache.Keys.AddRange(k);
            cache.Values.AddRange(v);
            cache.Tokens += tokens;
            k = cache.Keys.ToArray();
            v = cache.Values.ToArray();
        }
        var output = new float[tokens * heads * d];
        CausalGqa(q, k, v, tokens, heads, kvHeads, d, 1f / MathF.Sqrt(d), output, past);

        if (gate is not null)
            for (int i = 0; i < output.Length; i++) output[i] *= Activations.Sigmoid(gate[i]);
        return Linear.Apply(output, tokens, w.O);
    }

    /// <summary>
    /// Softmax attention where query t (absolute index past + t) sees keys 0..past + t; q [T, H, d],
    /// k/v [past + T, KV, d], output [T, H, d]. Query head h reads kv head h / (H / KV).
    /// </summary>
    public static void CausalGqa(float[] q, float[] k, float[] v, int tokens, int heads, int kvHeads, int d, float scale, float[] output, int past = 0)
    {
        int group = heads / kvHeads;
        Parallel.For(0, heads, hd =>
        {
            int kvh = hd / group;
            var scores = new float[past + tokens];
            for (int t = 0; t < tokens; t++)
            {
                int last = past + t;
                var qi = q.AsSpan((t * heads + hd) * d, d);
                for (int s = 0; s <= last; s++) scores[s] = TensorPrimitives.Dot(qi, k.AsSpan((s * kvHeads + kvh) * d, d)) * scale;
                var row = scores.AsSpan(0, last + 1);
                TensorPrimitives.SoftMax(row, row);
                var o = output.AsSpan((t * heads + hd) * d, d);
                o.Clear();
                for (int s = 0; s <= last; s++)
                {
                    var vs = v.AsSpan((s * kvHeads + kvh) * d, d);
                    TensorPrimitives.MultiplyAdd(vs, row[s], o, o);
                }
            }
        });
    }
}
