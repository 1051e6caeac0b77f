using MegatronBridge.IO;
using MegatronBridge.Reference;
using Xunit;

namespace MegatronBridge.Tests.Reference;

public class AttentionAndRopeTests
{
    [Fact]
    public void InterleavedMrope_AssignsThwInTurn_WithinSectionBounds()
    {
        // Qwen3.5: 4 frequencies, sections [2, 1, 1] -> T H W T.
        Assert.Equal(new[] { 0, 1, 2, 0 }, RopeTable.SectionOfFrequency(4, new[] { 2, 1, 1 }, interleaved: true));
        // Qwen3-VL: 16 frequencies, [6, 5, 5] -> THW repeated five times, then T.
        Assert.Equal(new[] { 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0 }, RopeTable.SectionOfFrequency(16, new[] { 6, 5, 5 }, interleaved: true));
        // Non-interleaved: blocks.
        Assert.Equal(new[] { 0, 0, 1, 2 }, RopeTable.SectionOfFrequency(4, new[] { 2, 1, 1 }, interleaved: false));
    }

    [Fact]
    public void Mrope_RotatesPairsByTheAngleOfTheirAxis_AndLeavesTheRestAlone()
    {
        // head dim 6, 2 frequencies (partial rotary: dims 0..3 rotate, 4..5 pass), theta 100 -> inv freq (1, 0.1).
        // Sections [1, 1, 0] interleaved: frequency 0 from T, frequency 1 from H. Token at T = 2, H = 5, W = 9.
        var rope = RopeTable.ForText(new[] { new[] { 2 }, new[] { 5 }, new[] { 9 } }, 100, 2, new[] { 1, 1, 0 }, interleaved: true);
        float[] head = { 1f, 1f, 0f, 0f, 7f, 8f };
        rope.Apply(head, 0);
        Assert.Equal(MathF.Cos(2f), head[0], 6);
        Assert.Equal(MathF.Cos(0.5f), head[1], 6);
        Assert.Equal(MathF.Sin(2f), head[2], 6);
        Assert.Equal(MathF.Sin(0.5f), head[3], 6);
        Assert.Equal(7f, head[4]);
        Assert.Equal(8f, head[5]);
    }

    [Fact]
    public void RopedScores_DependOnlyOnRelativePosition()
    {
        var positions = new[] { new[] { 3, 7, 13, 17 }, new[] { 3, 7, 13, 17 }, new[] { 3, 7, 13, 17 } };
        var rope = RopeTable.ForText(positions, 10000, 4, new[] { 2, 1, 1 }, interleaved: true);
        float[] q = { 0.3f, -1f, 0.5f, 2f, 0.1f, 0.7f, -0.2f, 1.1f };
        float[] k = { 1f, 0.2f, -0.4f, 0.9f, 0.3f, -0.6f, 0.8f, 0.05f };
        float Score(int qi, int ki)
        {
            var a = (float[])q.Clone();
            var b = (float[])k.Clone();
            rope.Apply(a, qi);
            rope.Apply(b, ki);
            return a.Zip(b, (x, y) => x * y).Sum();
        }
        Assert.Equal(Score(1, 0), Score(3, 2), 4); // both 4 apart
        Assert.NotEqual(Score(1, 0), Score(2, 0), 3);
    }

    [Fact]
    public void CausalGqa_FirstTokenSeesOnlyItself_LaterTokensAverageByScore_KvHeadsShared()
    {
        // 2 tokens, 2 query heads sharing 1 kv head, d = 1. Scores with scale 1: token 1 of head 0 has q = ln 3,
        // keys (0, 1) -> weights (1, 3)/4; head 1 has q = 0 -> equal weights.
        float[] q = { 5f, -5f, MathF.Log(3f), 0f };
        float[] k = { 0f, 1f };
        float[] v = { 10f, 20f };
        var output = new float[4];
        Attention.CausalGqa(q, k, v, tokens: 2, heads: 2, kvHeads: 1, d: 1, scale: 1f, output);
        Assert.Equal(10f, output[0], 5);
        Assert.Equal(10f, output[1], 5);
        Assert.Equal(17.5f, output[2], 4);
        Assert.Equal(15f, output[3], 4);
    }

    [Fact]
    public void PositionIds_ImageRunTakesGridPositions_TextContinuesAfterMax()
    {
        // Text, text, 4 image tokens for grid [1, 4, 4] merged 2x2, text, text.
        int[] ids = { 5, 9, 1000, 1000, 1000, 1000, 11, 12 };
        var pos = MropePositions.Compute(ids, 1000, new[] { new ImageGrid(1, 4, 4) }, 2);
        Assert.Equal(new[] { 0, 1, 2, 2, 2, 2, 4, 5 }, pos[0]);
        Assert.Equal(new[] { 0, 1, 2, 2, 3, 3, 4, 5 }, pos[1]);
        Assert.Equal(new[] { 0, 1, 2, 3, 2, 3, 4, 5 }, pos[2]);
    }

    [Fact]
    public void PositionIds_TwoImages_EachStartsAtTheCurrentPosition()
    {
        const int img = 77;
        int[] ids = { 5, img, img, img, img, 6, img, img, img, img, 7 };
        var grids = new[] { new ImageGrid(1, 4, 4), new ImageGrid(1, 4, 4) };
        var pos = MropePositions.Compute(ids, img, grids, 2);
        Assert.Equal(new[] { 0, 1, 1, 1, 1, 3, 4, 4, 4, 4, 6 }, pos[0]);
        Assert.Equal(new[] { 0, 1, 1, 2, 2, 3, 4, 4, 5, 5, 6 }, pos[1]);
        Assert.Equal(new[] { 0, 1, 2, 1, 2, 3, 4, 5, 4, 5, 6 }, pos[2]);
    }

    [Fact]
    public void PositionIds_RejectImageRunOfTheWrongLength()
    {
        int[] ids = { 5, 1000, 1000, 1000, 6 };
        var e = Assert.Throws<InvalidInputException>(() => MropePositions.Compute(ids, 1000, new[] { new ImageGrid(1, 4, 4) }, 2));
        Assert.Contains("3 image tokens", e.Message);
    }
}
