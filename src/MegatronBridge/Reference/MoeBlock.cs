namespace MegatronBridge.Reference;

/// <summary>
/// Sparse MoE: router softmax over all experts (float32), top-k, weights renormalised to sum 1 (transformers'
/// Qwen3.5 / Qwen3-VL routers always do), the chosen experts' SwiGLU outputs summed with those weights, plus the
/// shared expert scaled by sigmoid(shared_expert_gate x) where the model has one (unscaled when it has no gate).
/// </summary>
internal static class MoeBlock
{
    public static float[] Forward(ReadOnlySpan<float> x, int tokens, MoeWeights w, int topK)
    {
        int hidden = w.Router.Cols;
        var logits = Linear.Apply(x, tokens, w.Router);
        var output = new float[tokens * hidden];
        int experts = w.Experts.Count;
        var chosen = new int[tokens * topK];
        var weights = new float[tokens * topK];
        for (int t = 0; t < tokens; t++)
        {
            var probs = logits.AsSpan(t * experts, experts);
            Activations.SoftmaxInPlace(probs);
            SelectTopK(probs, chosen.AsSpan(t * topK, topK), weights.AsSpan(t * topK, topK));
        }

        // Each routed expert runs once, on all the tokens routed to it, so its weights are read once per forward and
        // an expert no token chose is never read. Per token the results are then summed in routing order, as before.
        var routed = new float[tokens * topK * hidden];
        foreach (var group in Enumerable.Range(0, tokens * topK).GroupBy(slot => chosen[slot]).OrderBy(g => g.Key))
        {
            var slots = group.ToArray();
            var xs = new float[slots.Length * hidden];
            for (int k = 0; k < slots.Length; k++) x.Slice(slots[k] / topK * hidden, hidden).CopyTo(xs.AsSpan(k * hidden, hidden));
            var ys = Mlp.Forward(xs, slots.Length, w.Experts[group.Key]);
            for (int k = 0; k < slots.Length; k++) ys.AsSpan(k * hidden, hidden).CopyTo(routed.AsSpan(slots[k] * hidden, hidden));
        }
        for (int t = 0; t < tokens; t++)
        {
            var ot = output.AsSpan(t * hidden, hidden);
            for (int j = 0; j < topK; j++)
            {
                var y = routed.AsSpan((t * topK + j) * hidden, hidden);
                float weight = weights[t * topK + j];
                for (int i = 0; i < hidden; i++) ot[i] += y[i] * weight;
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
