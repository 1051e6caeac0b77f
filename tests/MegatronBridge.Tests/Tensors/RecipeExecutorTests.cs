using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Tensors;

public class RecipeExecutorTests
{
    [Fact]
    public void ConcatAlongRowsInterleavesSources()
    {
        var a = TensorFactory.Iota("a", 0, 2, 3);
        var b = TensorFactory.Iota("b", 100, 1, 3);
        var source = new MemoryTensorSource().Add(a.Meta, a.Data).Add(b.Meta, b.Data);
        var recipe = TensorRecipe.Concat("out", DType.I32, 0, new[]
        {
            ("a", StridedView.Contiguous(2, 3).Narrow(0, 1, 1)),
            ("b", StridedView.Contiguous(1, 3)),
            ("a", StridedView.Contiguous(2, 3).Narrow(0, 0, 1)),
        });
        var result = TensorFactory.Ints(new RecipeExecutor().ExecuteToMemory(recipe, source));
        Assert.Equal(new[] { 3, 4, 5, 100, 101, 102, 0, 1, 2 }, result);
        Assert.Equal(new TensorShape(3, 3), recipe.Output.Shape);
    }

    [Fact]
    public void ColumnSliceAndTransposeAreGathered()
    {
        var a = TensorFactory.Iota("a", 0, 3, 4);
        var source = new MemoryTensorSource().Add(a.Meta, a.Data);
        var cols = TensorRecipe.Concat("cols", DType.I32, 1, new[] { ("a", StridedView.Contiguous(3, 4).Narrow(1, 2, 2)) });
        Assert.Equal(new[] { 2, 3, 6, 7, 10, 11 }, TensorFactory.Ints(new RecipeExecutor().ExecuteToMemory(cols, source)));
        var t = TensorRecipe.Concat("t", DType.I32, 0, new[] { ("a", StridedView.Contiguous(3, 4).Transpose(0, 1)) });
        Assert.Equal(new[] { 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11 }, TensorFactory.Ints(new RecipeExecutor().ExecuteToMemory(t, source)));
    }

    [Fact]
    public void SmallBufferSplitsLargePiecesWithoutChangingTheResult()
    {
        var a = TensorFactory.Iota("a", 7, 64, 300);
        var source = new MemoryTensorSource().Add(a.Meta, a.Data);
        var recipe = TensorRecipe.Concat("out", DType.I32, 0, new[]
        {
            ("a", StridedView.Contiguous(64, 300).Transpose(0, 1).Narrow(0, 10, 200).Transpose(0, 1)),
        });
        var big = new RecipeExecutor().ExecuteToMemory(recipe, source);
        var small = new RecipeExecutor(bufferBytes: 4096).ExecuteToMemory(recipe, source);
        Assert.Equal(big, small);
        var ints = TensorFactory.Ints(small);
        Assert.Equal(7 + 10, ints[0]);
        Assert.Equal(7 + 300 + 10, ints[200]);
    }

    [Fact]
    public void SubtractOneRoundsInBFloat16()
    {
        // 0.30078125 is exact in bf16; 0.30078125 - 1 = -0.69921875 is exact in fp32 and rounds to bf16 -0.69921875.
        // 1.00390625 - 1 = 0.00390625 exactly; 3.0 - 1 = 2.
        var data = TensorFactory.BFloat16(0.30078125f, 1.0078125f, 3f);
        var meta = new TensorMeta("w", DType.BF16, new TensorShape(3));
        var source = new MemoryTensorSource().Add(meta, data);
        var recipe = TensorRecipe.Copy("w", meta) with { Op = ElementOp.SubtractOne };
        var output = new RecipeExecutor().ExecuteToMemory(recipe, source);
        var floats = new float[3];
        ElementConvert.ToSingle(output, DType.BF16, floats);
        Assert.Equal(new[] { ElementConvert.BFloat16ToSingle(ElementConvert.SingleToBFloat16(0.30078125f - 1f)), 0.0078125f, 2f }, floats);
    }

    [Fact]
    public void SingleToBFloat16RoundsToNearestEven()
    {
        // 1 + 2^-8 lies exactly between bf16 neighbours 1 and 1 + 2^-7: ties to even (1).
        Assert.Equal(0x3F80, ElementConvert.SingleToBFloat16(1f + 1f / 256));
        // 1 + 3 * 2^-8 lies between 1 + 2^-7 (odd mantissa) and 1 + 2^-6: ties to even (1 + 2^-6).
        Assert.Equal(0x3F82, ElementConvert.SingleToBFloat16(1f + 3f / 256));
        Assert.Equal(0x3F81, ElementConvert.SingleToBFloat16(1f + 1f / 128));
    }

    [Fact]
    public void PiecesThatDoNotCoverTheOutputAreRejected()
    {
        var a = TensorFactory.Iota("a", 0, 2, 2);
        var source = new MemoryTensorSource().Add(a.Meta, a.Data);
        var recipe = new TensorRecipe(new TensorMeta("out", DType.I32, new TensorShape(4, 2)),
            new[] { new TensorPiece("a", StridedView.Contiguous(2, 2), StridedView.Contiguous(4, 2).Narrow(0, 0, 2)) });
        var e = Assert.Throws<InvalidOperationException>(() => new RecipeExecutor().ExecuteToMemory(recipe, source));
        Assert.Contains("out", e.Message);
    }
}

public class RecipeNarrowRowsTests
{
    [Fact]
    public void NarrowRowsOfAConcatEqualsTheRowsOfTheWholeOutput()
    {
        var a = TensorFactory.Iota("a", 0, 4, 3);
        var b = TensorFactory.Iota("b", 100, 4, 2);
        var source = new MemoryTensorSource().Add(a.Meta, a.Data).Add(b.Meta, b.Data);
        var rows = TensorRecipe.Concat("rows", DType.I32, 0, new[]
        {
            ("a", StridedView.Contiguous(4, 3).Narrow(0, 2, 2)),
            ("a", StridedView.Contiguous(4, 3).Narrow(0, 0, 2)),
        });
        var cols = TensorRecipe.Concat("cols", DType.I32, 1, new[] { ("a", StridedView.Contiguous(4, 3)), ("b", StridedView.Contiguous(4, 2)) });
        var executor = new RecipeExecutor();
        foreach (var recipe in new[] { rows, cols })
        {
            var whole = TensorFactory.Ints(executor.ExecuteToMemory(recipe, source));
            int width = (int)(recipe.Output.NumElements / recipe.Output.Shape[0]);
            for (int start = 0; start < 4; start++)
            {
                for (int len = 1; start + len <= 4; len++)
                {
                    var part = TensorFactory.Ints(executor.ExecuteToMemory(recipe.NarrowRows(start, len), source));
                    Assert.Equal(whole.Skip(start * width).Take(len * width), part);
                }
            }
        }
    }
}
