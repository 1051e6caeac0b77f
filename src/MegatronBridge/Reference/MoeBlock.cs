namespace MegatronBridge.Reference;

/// <summary>
/// Sparse MoE: router softmax over all experts (float32), top-k, weights renormalised to sum 1 (transformers'
/// Qwen3.5 / Qwen3-VL routers always do), the chosen experts' SwiGLU outputs summed with those weights, plus the
/// shared expert scaled by sigmoid(shared_expert_gate x) where the model has one (unscaled when it has no gate).
/// </summary>
public static class MoeBlock
{
    public static float[] Forward(ReadOnlySpan<float> x, int tokens, MoeWeights w, int topK)
    {
        int hidden = w.Router.Cols;
        var logits = Linear.Apply(x, tokens, w.Router);
        var output = new float[tokens * hidden];
        int experts = w.Experts.Count;
        var chosen = new int[topK];
        var weights = new float[topK];
        for (int t = 0; t < tokens; t++)
        {
            var probs = logits.AsSpan(t * experts, experts);
            Activations.SoftmaxInPlace(probs);
            SelectTopK(probs, chosen, weights);
            var xt = x.Slice(t * hidden, hidden);
            var ot = output.AsSpan(t * hidden, hidden);
            for (int j = 0; j < topK; j++)
            {
                var y = Mlp.Forward(xt, 1, w.Experts[chosen[j]]);
                for (int i = 0; i < hidden; i++) ot[i] += y[i] * weights[j];
            }
        }

        if (w.SharedExpert is not null)
        {
            var shared = Mlp.Forward(x, tokens, w.SharedExpert);
            // Without a gate (Megatron shared experts with moe_shared_expert_gate off) the output is added as is.
            var gate = w.SharedExpertGate is null ? null : Linear.Apply(x, tokens, w.SharedExpertGate);
            for (int t = 0; t < tokens; t++)
            {
                float s = gate is null ? 1f : Activations.Sigmoid(gate[t]);
                for (int i = 0; i < hidden; i++) output[t * hidden + i] += s * shared[t * hidden + i];
            }
        }
        return output;
    }

    /// <summary>
    /// The k largest probabilities, largest first (ties to the lower expert index, like torch.topk on CPU), and
    /// their values divided by their sum.
    /// </summary>
    public static void SelectTopK(ReadOnlySpan<float> probs, Span<int> chosen, Span<float> weights)
    {
        int k = chosen.Length;
        for (int j = 0; j < k; j++)
        {
            int best = -1;
            for (int e = 0; e < probs.Length; e++)
            {
                if (chosen[..j].Contains(e)) continue;
                if (best < 0 || probs[e] > probs[best]) best = e;
            }
            chosen[j] = best;
            weights[j] = probs[best];
        }
        float sum = 0;
        for (int j = 0; j < k; j++) sum += weights[j];
        for (int j = 0; j < k; j++) weights[j] /= sum;
    }
}
