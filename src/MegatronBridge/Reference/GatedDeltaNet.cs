using System.Numerics.Tensors;
using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>
/// Gated DeltaNet token mixer (Qwen3.5 linear attention), in the order transformers runs it:
/// in_proj (qkv, z, b, a) -> causal depthwise conv1d + SiLU -> split q, k, v; beta = sigmoid(b); g = -exp(A_log) softplus(a + dt_bias);
/// q, k L2-normalised per head, q / sqrt(dk); key heads serve nv/nk consecutive value heads; the gated delta rule
/// recurrence; gated RMSNorm with silu(z); out_proj.
/// </summary>
internal static class GatedDeltaNet
{
    /// <summary>
    /// The mixer over <paramref name="tokens"/> new tokens; with a cache it continues from (and updates) the conv
    /// inputs and recurrent state of earlier calls.
    /// </summary>
    public static float[] Forward(ReadOnlySpan<float> x, int tokens, GatedDeltaNetWeights w, ReferenceConfig c, LinearAttentionCache? cache = null)
    {
        int nk = c.LinearKeyHeads, nv = c.LinearValueHeads, dk = c.LinearKeyHeadDim, dv = c.LinearValueHeadDim;
        int keyDim = nk * dk, valueDim = nv * dv, convDim = 2 * keyDim + valueDim;

        var parts = w.InProj.Apply(x, tokens);
        var mixed = parts[GdnParts.Qkv];
        var z = parts[GdnParts.Z];
        var b = parts[GdnParts.B];
        var a = parts[GdnParts.A];

        var conv = CausalConv1dSilu(mixed, tokens, convDim, w.Conv1d, c.ConvKernel, cache?.ConvInputs);

        var q = new float[tokens * keyDim];
        var k = new float[tokens * keyDim];
        var v = new float[tokens * valueDim];
        for (int t = 0; t < tokens; t++)
        {
            var row = conv.AsSpan(t * convDim, convDim);
            row[..keyDim].CopyTo(q.AsSpan(t * keyDim, keyDim));
            row.Slice(keyDim, keyDim).CopyTo(k.AsSpan(t * keyDim, keyDim));
            row.Slice(2 * keyDim, valueDim).CopyTo(v.AsSpan(t * valueDim, valueDim));
        }
        L2NormalizeRows(q, dk);
        L2NormalizeRows(k, dk);
        float qScale = 1f / MathF.Sqrt(dk);
        for (int i = 0; i < q.Length; i++) q[i] *= qScale;

        var beta = new float[tokens * nv];
        var g = new float[tokens * nv];
        for (int t = 0; t < tokens; t++)
        {
            for (int h = 0; h < nv; h++)
            {
                beta[t * nv + h] = Activations.Sigmoid(b[t * nv + h]);
                g[t * nv + h] = -MathF.Exp(w.ALog[h]) * Activations.Softplus(a[t * nv + h] + w.DtBias[h]);
            }
        }

        var core = new float[tokens * valueDim];
        GatedDeltaRule(q, k, v, g, beta, tokens, nk, nv, dk, dv, core, cache?.State);

        Norms.GatedRmsNormInPlace(core, z, w.Norm, c.RmsEps);
        return Linear.Apply(core, tokens, w.OutProj);
    }

    /// <summary>
    /// Depthwise causal conv over time, then SiLU. x [T, C]; weight [C, K] where tap K-1 multiplies the current
    /// token. Before the first token come the (kernel-1) rows of <paramref name="history"/> (zeros without one,
    /// which is the left zero padding); the history is updated to the latest inputs.
    /// </summary>
    public static float[] CausalConv1dSilu(float[] x, int tokens, int channels, float[] weight, int kernel, float[]? history = null)
    {
        if (weight.Length != channels * kernel) throw new InvalidInputException($"conv1d weight has {weight.Length} values, expected {channels} x {kernel}");
        int pad = kernel - 1;
        // Padded input: [history ; x], history rows oldest first.
        var padded = new float[(pad + tokens) * channels];
        if (history is not null) history.CopyTo(padded, 0);
        x.AsSpan(0, tokens * channels).CopyTo(padded.AsSpan(pad * channels));
        var y = new float[tokens * channels];
        for (int t = 0; t < tokens; t++)
        {
            for (int ch = 0; ch < channels; ch++)
            {
                float sum = 0;
                for (int j = 0; j < kernel; j++) sum += weight[ch * kernel + j] * padded[(t + j) * channels + ch];
                y[t * channels + ch] = Activations.Silu(sum);
            }
        }
        if (history is not null) padded.AsSpan(tokens * channels, pad * channels).CopyTo(history);
        return y;
    }

    /// <summary>x / sqrt(sum x^2 + 1e-6) over each row of <paramref name="width"/> values (FLA's l2norm).</summary>
    public static void L2NormalizeRows(Span<float> x, int width)
    {
        for (int start = 0; start < x.Length; start += width)
        {
            var row = x.Slice(start, width);
            double sum = 0;
            for (int i = 0; i < width; i++) sum += (double)row[i] * row[i];
            float inv = (float)(1.0 / Math.Sqrt(sum + 1e-6));
            for (int i = 0; i < width; i++) row[i] *= inv;
        }
    }

    /// <summary>
    /// The recurrence per value head h (key head h / (nv/nk)), state S [dk, dv] from zero:
    /// S = exp(g_t) S; delta = beta_t (v_t - S^T k_t); S += k_t delta^T; o_t = S^T q_t.
    /// q, k [T, nk, dk] (already normalised and scaled), v [T, nv, dv], g/beta [T, nv], output [T, nv, dv].
    /// <paramref name="states"/> [nv, dk, dv], when given, is the starting state and receives the final one.
    /// </summary>
    public static void GatedDeltaRule(float[] q, float[] k, float[] v, float[] g, float[] beta, int tokens, int nk, int nv, int dk, int dv, float[] output, float[]? states = null)
    {
        int group = nv / nk;
        Parallel.For(0, nv, h =>
        {
            int kh = h / group;
            var state = states is null ? new float[dk * dv] : states.AsSpan(h * dk * dv, dk * dv).ToArray();
            var kvMem = new float[dv];
            for (int t = 0; t < tokens; t++)
            {
                var qt = q.AsSpan((t * nk + kh) * dk, dk);
                var kt = k.AsSpan((t * nk + kh) * dk, dk);
                var vt = v.AsSpan((t * nv + h) * dv, dv);
                float decay = MathF.Exp(g[t * nv + h]);
                float bt = beta[t * nv + h];
                TensorPrimitives.Multiply(state, decay, state);
                Array.Clear(kvMem);
                for (int i = 0; i < dk; i++) TensorPrimitives.MultiplyAdd(state.AsSpan(i * dv, dv), kt[i], kvMem, kvMem);
                for (int j = 0; j < dv; j++) kvMem[j] = (vt[j] - kvMem[j]) * bt; // now delta
                for (int i = 0; i < dk; i++)
                {
                    var row = state.AsSpan(i * dv, dv);
                    TensorPrimitives.MultiplyAdd(kvMem, kt[i], row, row);
                }
                var o = output.AsSpan((t * nv + h) * dv, dv);
                o.Clear();
                for (int i = 0; i < dk; i++) TensorPrimitives.MultiplyAdd(state.AsSpan(i * dv, dv), qt[i], o, o);
            }
            if (states is not null) state.CopyTo(states, h * dk * dv);
        });
    }
}
