using MegatronBridge.IO;
using MegatronBridge.Reference;
using Xunit;

namespace MegatronBridge.Tests.Reference;

/// <summary>Fused projections: the split of one matmul's output, and the layouts against the worked examples of
/// docs/mappings.md.</summary>
public class ProjectionSetTests
{
    /// <summary>A [rows, 1] weight whose row r holds r, so a part's rows tell which fused rows fed it.</summary>
    private static Matrix RowIndexed(int rows) => new(Enumerable.Range(0, rows).Select(r => (float)r).ToArray(), rows, 1, "tagged");

    private static float[] SourceRows(ProjectionSet set, int part) => set.PartWeights(part).Data;

    [Fact]
    public void GatedLinearQkv_MatchesTheSpecExample()
    {
        // The QKV example of docs/mappings.md: nh=4, ng=2, d=2, gated; Megatron rows -> HF blocks.
        var set = new ProjectionSet(new[] { 8, 4, 4, 8 },
            new[] { new FusedProjection(RowIndexed(24), null, MegatronWeightLoader.AttentionQkvBlocks(4, 2, 2, gated: true)) });
        Assert.Equal(new float[] { 0, 1, 2, 3, 12, 13, 14, 15 }, SourceRows(set, AttentionParts.Query));
        Assert.Equal(new float[] { 4, 5, 6, 7, 16, 17, 18, 19 }, SourceRows(set, AttentionParts.Gate));
        Assert.Equal(new float[] { 8, 9, 20, 21 }, SourceRows(set, AttentionParts.Key));
        Assert.Equal(new float[] { 10, 11, 22, 23 }, SourceRows(set, AttentionParts.Value));
    }

    [Fact]
    public void UngatedLinearQkv_MatchesTheSpecExample()
    {
        var set = new ProjectionSet(new[] { 8, 4, 4 },
            new[] { new FusedProjection(RowIndexed(16), null, MegatronWeightLoader.AttentionQkvBlocks(4, 2, 2, gated: false)) });
        Assert.Equal(new float[] { 0, 1, 2, 3, 8, 9, 10, 11 }, SourceRows(set, AttentionParts.Query));
        Assert.Equal(new float[] { 4, 5, 12, 13 }, SourceRows(set, AttentionParts.Key));
        Assert.Equal(new float[] { 6, 7, 14, 15 }, SourceRows(set, AttentionParts.Value));
    }

    [Fact]
    public void HfGatedQProj_InterleavesQueryAndGatePerHead()
    {
        // q_proj of 4 heads, d=2: rows 0-1 query head 0, 2-3 gate head 0, 4-5 query head 1, ...
        var set = new ProjectionSet(new[] { 8, 8 }, new[]
        {
            new FusedProjection(RowIndexed(16), null, HfWeightLoader.GatedQProjBlocks(4, 2).Select(b => b with { Part = b.Part == AttentionParts.Query ? 0 : 1 }).ToArray()),
        });
        Assert.Equal(new float[] { 0, 1, 4, 5, 8, 9, 12, 13 }, SourceRows(set, 0));
        Assert.Equal(new float[] { 2, 3, 6, 7, 10, 11, 14, 15 }, SourceRows(set, 1));
    }

    [Fact]
    public void VisionQkv_MatchesTheSpecExample()
    {
        // Concatenated QKV, 2 heads of dim 2: Megatron rows 0-1 Q0, 2-3 K0, 4-5 V0, 6-7 Q1, 8-9 K1, 10-11 V1.
        var set = new ProjectionSet(new[] { 4, 4, 4 },
            new[] { new FusedProjection(RowIndexed(12), null, MegatronWeightLoader.VisionQkvBlocks(2, 2)) });
        Assert.Equal(new float[] { 0, 1, 6, 7 }, SourceRows(set, 0));
        Assert.Equal(new float[] { 2, 3, 8, 9 }, SourceRows(set, 1));
        Assert.Equal(new float[] { 4, 5, 10, 11 }, SourceRows(set, 2));
    }

    [Fact]
    public void Apply_SplitsOneMatmulPerToken_WithBias()
    {
        // W = [[1, 0], [0, 1], [1, 1]], bias [10, 20, 30]; blocks: row 0 -> part 1, rows 1-2 -> part 0.
        var w = new Matrix(new float[] { 1, 0, 0, 1, 1, 1 }, 3, 2, "w");
        var set = new ProjectionSet(new[] { 2, 1 }, new[] { new FusedProjection(w, new float[] { 10, 20, 30 }, new[] { new RowBlock(1, 0, 1), new RowBlock(0, 0, 2) }) });
        var parts = set.Apply(new float[] { 2, 3, 5, 7 }, 2);
        Assert.Equal(new float[] { 23, 35, 27, 42 }, parts[0]);
        Assert.Equal(new float[] { 12, 15 }, parts[1]);
    }

    [Fact]
    public void Layouts_ThatMissOrRepeatRows_AreRefused()
    {
        var w = RowIndexed(4);
        var twice = Assert.Throws<InvalidInputException>(() => new ProjectionSet(new[] { 4 }, new[] { new FusedProjection(w, null, new[] { new RowBlock(0, 0, 2), new RowBlock(0, 1, 2) }) }));
        Assert.Contains("produced twice", twice.Message);
        var gap = Assert.Throws<InvalidInputException>(() => new ProjectionSet(new[] { 5 }, new[] { new FusedProjection(w, null, new[] { new RowBlock(0, 0, 4) }) }));
        Assert.Contains("row 4 of part 0 is produced by no weight", gap.Message);
        var rows = Assert.Throws<InvalidInputException>(() => new ProjectionSet(new[] { 3 }, new[] { new FusedProjection(w, null, new[] { new RowBlock(0, 0, 3) }) }));
        Assert.Contains("cover 3 rows, the weight has 4", rows.Message);
        var outside = Assert.Throws<InvalidInputException>(() => new ProjectionSet(new[] { 4 }, new[] { new FusedProjection(w, null, new[] { new RowBlock(1, 0, 4) }) }));
        Assert.Contains("does not fit", outside.Message);
    }
}
