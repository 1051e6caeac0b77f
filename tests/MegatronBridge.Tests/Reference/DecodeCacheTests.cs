using MegatronBridge.Reference;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Reference;

/// <summary>Cached decoding (KV cache, GDN conv + recurrent state, continued mRoPE positions) against full recompute.</summary>
public class DecodeCacheTests
{
    [Theory]
    [InlineData("qwen35-vl-dense-tiny")]
    [InlineData("qwen3-vl-moe-tiny")]
    public void DecodeSteps_GiveTheLogitsOfAFullForward(string fixture)
    {
        var folder = TestPaths.Fixture(fixture);
        using var model = ReferenceModel.LoadHf(folder);
        int vocab = model.Config.Vocab;
        foreach (var c in ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)))
        {
            (ImageInput, VisionOutput)? image = c.Image is null ? null : (c.Image, model.EncodeImages(c.Image));
            var (_, cache) = model.Prefill(c.InputIds, image);
            var sequence = c.InputIds.ToList();
            // Feed the reference's greedy tokens one by one; each step must equal the last row of a full forward.
            foreach (int token in c.GreedyTokens.Take(4))
            {
                sequence.Add(token);
                var step = model.DecodeStep(cache, token);
                var full = model.Forward(sequence, image);
                var diff = Difference.Of(step, full.AsSpan((sequence.Count - 1) * vocab, vocab));
                Assert.True(diff.MaxAbs < 1e-5, $"{fixture} {c.Name} after {sequence.Count} tokens: cached vs full max |diff| {diff.MaxAbs:E3}");
            }
        }
    }

    [Fact]
    public void CachedGreedy_EqualsRecomputedGreedy()
    {
        var folder = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        using var model = ReferenceModel.LoadHf(folder);
        int[] prompt = { 7, 300, 12, 999, 4 };
        Assert.Equal(Greedy.GenerateByRecompute(model, prompt, 6), Greedy.Generate(model, prompt, 6));
    }

    [Fact]
    public void ConvHistory_CarriesAcrossCalls()
    {
        // Splitting a sequence over two calls with a history equals one call over the whole sequence.
        float[] x = { 0.5f, -1f, 0.25f, 2f, -0.75f, 1.5f };
        float[] w = { 0.3f, -0.2f, 0.9f, 1.1f, 0.4f, -0.6f };
        var whole = GatedDeltaNet.CausalConv1dSilu(x, 3, 2, w, 3);
        var history = new float[4];
        var first = GatedDeltaNet.CausalConv1dSilu(x[..2], 1, 2, w, 3, history);
        var rest = GatedDeltaNet.CausalConv1dSilu(x[2..], 2, 2, w, 3, history);
        Assert.Equal(whole, first.Concat(rest).ToArray());
    }
}
