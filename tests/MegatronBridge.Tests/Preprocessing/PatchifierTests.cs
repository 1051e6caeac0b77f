using MegatronBridge.IO;
using MegatronBridge.Preprocessing;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

public sealed class PatchifierTests
{
    // A 3 x 4 x 8 (C, H, W) image whose value says where it is: c * 1000 + y * 10 + x.
    private static float[] Labelled(int channels, int height, int width)
    {
        var planes = new float[channels * height * width];
        for (int c = 0; c < channels; c++)
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            planes[(c * height + y) * width + x] = c * 1000 + y * 10 + x;
        return planes;
    }

    [Fact]
    public void RowsRunByMergeBlockThenWithinTheBlock_EachRowIsChannelTimePatch()
    {
        // patch 2, merge 2, temporal 2: grid 2 x 4 patches, two 2x2 merge blocks side by side.
        var values = Patchifier.Patchify(Labelled(3, 4, 8), 3, 4, 8, patchSize: 2, temporalPatchSize: 2, mergeSize: 2, out var grid);
        Assert.Equal(new GridThw(1, 2, 4), grid);
        const int rowLength = 3 * 2 * 2 * 2;
        Assert.Equal(8 * rowLength, values.Length);

        // Row 1: first block, merge position (0, 1) -> the patch at y 0..1, x 2..3; each channel twice (t = 0, 1).
        float[] row1 =
        {
            2, 3, 12, 13, 2, 3, 12, 13,
            1002, 1003, 1012, 1013, 1002, 1003, 1012, 1013,
            2002, 2003, 2012, 2013, 2002, 2003, 2012, 2013,
        };
        Assert.Equal(row1, values.AsSpan(1 * rowLength, rowLength).ToArray());

        // Row 2: first block, merge position (1, 0) -> y 2..3, x 0..1 (the block's second patch row comes before
        // the next block).
        Assert.Equal(new float[] { 20, 21, 30, 31 }, values.AsSpan(2 * rowLength, 4).ToArray());
        // Row 6: second block, merge position (1, 0) -> y 2..3, x 4..5.
        Assert.Equal(new float[] { 24, 25, 34, 35, 24, 25, 34, 35, 1024 }, values.AsSpan(6 * rowLength, 9).ToArray());
    }

    [Fact]
    public void RejectsSizesThatAreNotWholeMergeBlocks()
    {
        Assert.Throws<ArgumentException>(() =>
            Patchifier.Patchify(new float[3 * 4 * 6], 3, 4, 6, patchSize: 2, temporalPatchSize: 2, mergeSize: 2, out _));
    }

    [Fact]
    public void GridCountsTokensPerMergeBlock()
    {
        Assert.Equal(4, new GridThw(1, 4, 4).NumTokens(2));
        Assert.Equal(54, new GridThw(1, 12, 18).NumTokens(2));
        Assert.Throws<InvalidInputException>(() => new GridThw(1, 3, 3).NumTokens(2));
    }
}
