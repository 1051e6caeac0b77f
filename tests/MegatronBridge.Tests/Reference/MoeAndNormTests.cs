using MegatronBridge.Reference;
using Xunit;

namespace MegatronBridge.Tests.Reference;

public class MoeAndNormTests
{
    [Fact]
    public void TopK_PicksLargestExperts_AndRenormalises()
    {
        Span<int> chosen = stackalloc int[2];
        Span<float> weights = stackalloc float[2];
        MoeBlock.SelectTopK(new[] { 0.1f, 0.4f, 0.2f, 0.3f }, chosen, weights);
        Assert.Equal(new[] { 1, 3 }, chosen.ToArray());
        Assert.Equal(4f / 7f, weights[0], 6);
        Assert.Equal(3f / 7f, weights[1], 6);
    }

    [Fact]
    public void MoeBlock_RoutesToTopExperts_AddsGatedSharedExpert()
    {
        // hidden 1, x = 1. Router logits (0, ln 2, ln 3, 0) -> probabilities (1, 2, 3, 1)/7 -> experts 2 and 1,
        // renormalised 0.6 / 0.4. Expert e: silu(gate_e x) * (up x) -> down = identity, so its output is silu(gate_e).
        var router = M(new[] { 0f, MathF.Log(2f), MathF.Log(3f), 0f }, 4, 1);
        float[] gates = { 0.5f, 1.5f, -0.7f, 3f };
        var experts = gates.Select(g => new MlpWeights(M(new[] { g }, 1, 1), M(new[] { 1f }, 1, 1), M(new[] { 1f }, 1, 1))).ToList();
        var shared = new MlpWeights(M(new[] { 2f }, 1, 1), M(new[] { 0.5f }, 1, 1), M(new[] { 3f }, 1, 1));
        var moe = new MoeWeights(router, experts, shared, M(new[] { 0.25f }, 1, 1));

        var y = MoeBlock.Forward(new[] { 1f }, 1, moe, topK: 2);

        float routed = 0.6f * Silu(-0.7f) + 0.4f * Silu(1.5f);
        float sharedOut = 1f / (1f + MathF.Exp(-0.25f)) * (Silu(2f) * 0.5f * 3f);
        Assert.Equal(routed + sharedOut, y[0], 5);
    }

    [Fact]
    public void MoeBlock_SharedExpertWithoutGate_IsAddedUnscaled()
    {
        // One expert (top-1, weight 1) with output silu(1.5); shared expert silu(2) * 0.5 * 3, no gate.
        var router = M(new[] { 0f }, 1, 1);
        var expert = new MlpWeights(M(new[] { 1.5f }, 1, 1), M(new[] { 1f }, 1, 1), M(new[] { 1f }, 1, 1));
        var shared = new MlpWeights(M(new[] { 2f }, 1, 1), M(new[] { 0.5f }, 1, 1), M(new[] { 3f }, 1, 1));
        var y = MoeBlock.Forward(new[] { 1f }, 1, new MoeWeights(router, new[] { expert }, shared, null), topK: 1);
        Assert.Equal(Silu(1.5f) + Silu(2f) * 0.5f * 3f, y[0], 5);
    }

    [Fact]
    public void RmsNorm_ZeroCenteredAddsOne_PlainDoesNot()
    {
        // Row (3, 4): mean square 12.5 -> scale 1/sqrt(12.5 + eps).
        float s = 1f / MathF.Sqrt(12.5f);
        var a = new[] { 3f, 4f };
        Norms.RmsNormInPlace(a, new[] { 0.5f, -1f }, 0f, RmsNormStyle.ZeroCentered);
        Assert.Equal(3f * s * 1.5f, a[0], 5);
        Assert.Equal(0f, a[1], 5);
        var b = new[] { 3f, 4f };
        Norms.RmsNormInPlace(b, new[] { 0.5f, -1f }, 0f, RmsNormStyle.Plain);
        Assert.Equal(3f * s * 0.5f, b[0], 5);
        Assert.Equal(-4f * s, b[1], 5);
    }

    [Fact]
    public void GatedRmsNorm_MultipliesBySiluOfGate()
    {
        var x = new[] { 3f, 4f };
        Norms.GatedRmsNormInPlace(x, new[] { 1f, -2f }, new[] { 2f, 1f }, 0f);
        float s = 1f / MathF.Sqrt(12.5f);
        Assert.Equal(2f * 3f * s * Silu(1f), x[0], 5);
        Assert.Equal(4f * s * Silu(-2f), x[1], 5);
    }

    [Fact]
    public void LayerNorm_CentersScalesAndShifts()
    {
        var x = new[] { 1f, 3f };
        Norms.LayerNormInPlace(x, new[] { 2f, 1f }, new[] { 0.5f, -0.5f }, 0f);
        Assert.Equal(-1.5f, x[0], 5);
        Assert.Equal(0.5f, x[1], 5);
    }

    [Theory]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(-2.0, -0.9953222650189527)]
    [InlineData(3.0, 0.9999779095030014)]
    [InlineData(0.0, 0.0)]
    public void Erf_MatchesTabulatedValues(double x, double expected) => Assert.Equal(expected, Activations.Erf(x), 12);

    private static Matrix M(float[] data, int rows, int cols) => new(data, rows, cols, "test");
    private static float Silu(float v) => v / (1f + MathF.Exp(-v));
}
