using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>Export produces a few runs of tensors at once: the runs must cover every recipe once, in order.</summary>
public class HfFolderWriterRunsTests
{
    private static TensorRecipe Recipe(string name, long elements) =>
        TensorRecipe.Copy(name, new TensorMeta(name, DType.BF16, new TensorShape(elements)));

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(50)]
    public void Runs_CoverEveryRecipeOnceInOrder_WithBalancedBytes(int count)
    {
        var sizes = new long[] { 1000, 10, 10, 500, 500, 2000, 1, 1, 300, 700 };
        var recipes = sizes.Select((n, i) => Recipe($"t{i}", n)).ToList();
        var runs = BoundedParallel.ContiguousRuns(recipes, r => r.Output.ByteLength, count);
        Assert.Equal(recipes.Select(r => r.Output.Name), runs.SelectMany(r => r).Select(r => r.Output.Name));
        Assert.InRange(runs.Count, 1, Math.Min(count, recipes.Count));
        Assert.All(runs, r => Assert.NotEmpty(r));
        if (count == 2)
        {
            // 5022 bytes-worth of elements: the first run closes once it holds at least half.
            long first = runs[0].Sum(r => r.Output.NumElements);
            Assert.True(first >= 5022 / 2 && first - runs[0][^1].Output.NumElements < 5022 / 2 + 1);
        }
    }

    [Fact]
    public void LargeTensors_AreSlicedByRows_AndTheSlicesRebuildTheTensor()
    {
        // A 10 x 6 bf16 tensor (120 bytes) sliced at 40 bytes: rows of 12 bytes, 3 rows per slice -> 4 slices.
        var source = new MemoryTensorSource().Add("src", DType.BF16, new TensorShape(10, 6), Enumerable.Range(0, 120).Select(i => (byte)i).ToArray());
        var recipe = TensorRecipe.Copy("out", source.Get("src"));
        var small = TensorRecipe.Copy("small", new TensorMeta("src", DType.BF16, new TensorShape(10, 6)));
        var slices = HfFolderWriter.Slices(new[] { recipe }, sliceBytes: 40);
        Assert.Equal(new long[] { 0, 36, 72, 108 }, slices.Select(s => s.ByteOffset));
        Assert.All(slices, s => Assert.Equal("out", s.Tensor));
        var rebuilt = new byte[120];
        var executor = new RecipeExecutor(4096);
        foreach (var s in slices)
            executor.ExecuteToMemory(s.Recipe, source).CopyTo(rebuilt, s.ByteOffset);
        Assert.Equal(source.ReadAll("src"), rebuilt);
        Assert.Single(HfFolderWriter.Slices(new[] { small }, sliceBytes: 1000));
    }
}
