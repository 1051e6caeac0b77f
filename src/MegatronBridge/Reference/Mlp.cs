namespace MegatronBridge.Reference;

/// <summary>Dense SwiGLU MLP: down(silu(gate x) * up x).</summary>
public static class Mlp
{
    public static float[] Forward(ReadOnlySpan<float> x, int tokens, MlpWeights w)
    {
        var gate = Linear.Apply(x, tokens, w.Gate);
        var up = Linear.Apply(x, tokens, w.Up);
        Activations.SwiGlu(gate, up, gate);
        return Linear.Apply(gate, tokens, w.Down);
    }
}
