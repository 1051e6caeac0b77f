using MegatronBridge.Reference;
using Xunit;

namespace MegatronBridge.Tests.Reference;

public class GatedDeltaNetTests
{
    [Fact]
    public void DeltaRule_TwoSteps_MatchHandComputation_WithGroupedValueHeads()
    {
        // One key head (dk = 2) serving two value heads (dv = 1). Hand computation, head 0 (v = 2, -1):
        // t0: S = k0 * beta0 * v0 = (0.6, 0.8) * 1; o0 = S.q0 = 0.6.
        // t1: S *= 0.5 -> (0.3, 0.4); S.k1 = 0.3; delta = 0.25 * (-1 - 0.3) = -0.325; S = (-0.025, 0.4); o1 = S.q1 = 0.4.
        // Head 1 (v = 4, -2): S = (1.2, 1.6); o0 = 1.2; decay -> (0.6, 0.8); delta = 0.25 * (-2 - 0.6) = -0.65;
        // S = (-0.05, 0.8); o1 = 0.8.
        float[] q = { 1f, 0f, 0f, 1f };
        float[] k = { 0.6f, 0.8f, 1f, 0f };
        float[] v = { 2f, 4f, -1f, -2f };
        float[] g = { -3f, -3f, MathF.Log(0.5f), MathF.Log(0.5f) }; // g at t0 is irrelevant: the state starts at zero
        float[] beta = { 0.5f, 0.5f, 0.25f, 0.25f };
        var output = new float[4];
        GatedDeltaNet.GatedDeltaRule(q, k, v, g, beta, tokens: 2, nk: 1, nv: 2, dk: 2, dv: 1, output);
        Assert.Equal(0.6f, output[0], 5);
        Assert.Equal(1.2f, output[1], 5);
        Assert.Equal(0.4f, output[2], 5);
        Assert.Equal(0.8f, output[3], 5);
    }

    [Fact]
    public void CausalConv_UsesOnlyPastTokens_LastTapOnCurrent_ThenSilu()
    {
        // One channel, kernel 3, weights (a, b, c) = (1, 10, 100): y_t = silu(x_{t-2} + 10 x_{t-1} + 100 x_t).
        float[] x = { 0.01f, 0.02f, -0.03f };
        var y = GatedDeltaNet.CausalConv1dSilu(x, tokens: 3, channels: 1, weight: new[] { 1f, 10f, 100f }, kernel: 3);
        Assert.Equal(Silu(1f), y[0], 5);
        Assert.Equal(Silu(0.1f + 2f), y[1], 5);
        Assert.Equal(Silu(0.01f + 0.2f - 3f), y[2], 5);
    }

    [Fact]
    public void L2Normalize_GivesUnitRows()
    {
        float[] x = { 3f, 4f, 0f, 0f, 0f, 2f };
        GatedDeltaNet.L2NormalizeRows(x, 3);
        Assert.Equal(new[] { 0.6f, 0.8f, 0f }, x[..3].Select(v => MathF.Round(v, 5)));
        Assert.Equal(1f, x[5], 5);
    }

    private static float Silu(float v) => v / (1f + MathF.Exp(-v));
}
