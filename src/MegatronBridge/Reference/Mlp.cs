namespace MegatronBridge.Reference;

/// <summary>Dense SwiGLU MLP: down(silu(gate x) * up x).</summary>
internal static class Mlp
{
    public static float[] Forward(ReadOnlySpan<float> x, int tokens, MlpWeights w)
    {
        var parts = w.GateUp.Apply(x, tokens);
        var gate = parts[0];
        var up = parts[1];
        Activations.SwiGlu(gate, up, gate);
        return Linear.Apply(gate, tokens, w.Down);
    }
}
