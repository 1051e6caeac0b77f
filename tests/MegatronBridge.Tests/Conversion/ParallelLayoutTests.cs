using MegatronBridge.Conversion;
using MegatronBridge.IO;
using Xunit;

namespace MegatronBridge.Tests.Conversion;

public class ParallelLayoutTests
{
    [Fact]
    public void EvenPipelineSplitGivesContiguousLayerRanges()
    {
        var layout = new ParallelLayout(pp: 2);
        Assert.Equal((0, 4), layout.LayerRange(0, 0, 8));
        Assert.Equal((4, 4), layout.LayerRange(1, 0, 8));
        Assert.Equal(new LayerPlacement(1, 0, 2), layout.PlaceLayer(6, 8));
    }

    [Fact]
    public void VirtualChunksInterleaveStages()
    {
        // Megatron: offset = chunk * L/vpp + stage * L/(pp*vpp). L = 8, pp = 2, vpp = 2 -> 2 layers per chunk.
        var layout = new ParallelLayout(pp: 2, vpp: 2);
        Assert.Equal((0, 2), layout.LayerRange(0, 0, 8));
        Assert.Equal((2, 2), layout.LayerRange(1, 0, 8));
        Assert.Equal((4, 2), layout.LayerRange(0, 1, 8));
        Assert.Equal((6, 2), layout.LayerRange(1, 1, 8));
        Assert.Equal(new LayerPlacement(0, 1, 1), layout.PlaceLayer(5, 8));
        for (int layer = 0; layer < 8; layer++)
        {
            var at = layout.PlaceLayer(layer, 8);
            Assert.Equal(layer, layout.GlobalLayer(at.PpRank, at.VppChunk, at.LocalLayer, 8));
        }
    }

    [Fact]
    public void ExpertsAreDealtInContiguousBlocks()
    {
        var layout = new ParallelLayout(ep: 4);
        Assert.Equal(new ExpertPlacement(2, 1), layout.PlaceExpert(5, 8));
        Assert.Equal(5, layout.GlobalExpert(2, 1, 8));
        Assert.Equal(new ExpertPlacement(3, 1), layout.PlaceExpert(7, 8));
    }

    [Fact]
    public void ExpertTensorParallelDefaultsToTensorParallel()
    {
        Assert.Equal(4, new ParallelLayout(tp: 4).Etp);
        Assert.Equal(1, new ParallelLayout(tp: 4, etp: 1).Etp);
    }

    [Fact]
    public void ValidationListsEveryProblem()
    {
        var ex = Assert.Throws<InvalidInputException>(() => new ParallelLayout(pp: 3, ep: 3).Validate(8, 8, "model"));
        Assert.Contains("8 decoder layers cannot be split evenly over 3 pipeline stages", ex.Message);
        Assert.Contains("8 experts cannot be split evenly over expert-parallel size 3", ex.Message);
        Assert.Throws<InvalidInputException>(() => new ParallelLayout(ep: 2).Validate(8, 0, "dense"));
        Assert.Throws<InvalidInputException>(() => new ParallelLayout(tp: 0));
    }
}
