using MegatronBridge.Conversion;
using MegatronBridge.Conversion.Kinds;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Conversion;

/// <summary>
/// Each mapping kind on tiny integer tensors with H = 1, so that a tensor's elements are its row labels. Expected rows
/// are written out by hand from the layouts and worked examples of docs/mappings.md.
/// </summary>
public class MappingKindTests
{
    private static MegatronParam P(string name, params long[] shape) => new(name, new TensorShape(shape));

    private static int[] R(params int[][] parts) => parts.SelectMany(p => p).ToArray();
    private static int[] Span(int from, int toInclusive) => Enumerable.Range(from, toInclusive - from + 1).ToArray();

    // q rows 0..15 (values 0..15), k rows labelled 100.., v rows 200..
    private static (QkvMapping Kind, MemoryTensorSource Hf) GatedQkv(long h = 1)
    {
        var g = new QkvGeometry(Heads: 4, Groups: 2, HeadDim: 2, OutputGate: true);
        var hf = KindHarness.Source(TensorFactory.Iota("q", 0, 16, h), TensorFactory.Iota("k", 100, 4, h), TensorFactory.Iota("v", 200, 4, h));
        return (QkvMapping.Of(P("qkv", 24, h), g, "q", "k", "v"), hf);
    }

    [Fact]
    public void GatedQkvAtTp1FollowsTheWorkedExample()
    {
        var (kind, hf) = GatedQkv();
        var expected = R(
            Span(0, 1), Span(4, 5), Span(2, 3), Span(6, 7), Span(100, 101), Span(200, 201),
            Span(8, 9), Span(12, 13), Span(10, 11), Span(14, 15), Span(102, 103), Span(202, 203));
        Assert.Equal(expected, KindHarness.Shard(kind, hf, 1, 0));
    }

    [Fact]
    public void GatedQkvAtTp2GivesEachRankWholeGroups()
    {
        var (kind, hf) = GatedQkv();
        Assert.Equal(R(Span(0, 1), Span(4, 5), Span(2, 3), Span(6, 7), Span(100, 101), Span(200, 201)), KindHarness.Shard(kind, hf, 2, 0));
        Assert.Equal(R(Span(8, 9), Span(12, 13), Span(10, 11), Span(14, 15), Span(102, 103), Span(202, 203)), KindHarness.Shard(kind, hf, 2, 1));
    }

    [Fact]
    public void UngatedQkvFollowsTheWorkedExample()
    {
        var g = new QkvGeometry(4, 2, 2, OutputGate: false);
        var hf = KindHarness.Source(TensorFactory.Iota("q", 0, 8, 1), TensorFactory.Iota("k", 100, 4, 1), TensorFactory.Iota("v", 200, 4, 1));
        var kind = QkvMapping.Of(P("qkv", 16, 1), g, "q", "k", "v");
        Assert.Equal(R(Span(0, 3), Span(100, 101), Span(200, 201), Span(4, 7), Span(102, 103), Span(202, 203)), KindHarness.Shard(kind, hf, 1, 0));
    }

    [Fact]
    public void QkvBiasUsesTheSamePermutation()
    {
        var g = new QkvGeometry(4, 2, 2, OutputGate: false);
        var hf = KindHarness.Source(TensorFactory.Iota("qb", 0, 8), TensorFactory.Iota("kb", 100, 4), TensorFactory.Iota("vb", 200, 4));
        var kind = QkvMapping.Of(P("qkv.bias", 16), g, "qb", "kb", "vb");
        Assert.Equal(R(Span(4, 7), Span(102, 103), Span(202, 203)), KindHarness.Shard(kind, hf, 2, 1));
    }

    [Fact]
    public void QkvRejectsATpSizeThatSplitsAGroup()
    {
        var (kind, _) = GatedQkv();
        var ex = Assert.Throws<InvalidInputException>(() => kind.Links(4));
        Assert.Contains("2 query groups", ex.Message);
        Assert.Contains("qkv", ex.Message);
    }

    [Fact]
    public void QkvRejectsAnHfTensorOfTheWrongShape()
    {
        var g = new QkvGeometry(4, 2, 2, OutputGate: true);
        var ex = Assert.Throws<InvalidInputException>(() =>
            new QkvMapping(P("qkv", 24, 1), g, HfRef.Whole("q", new TensorShape(8, 1)), HfRef.Whole("k", new TensorShape(4, 1)), HfRef.Whole("v", new TensorShape(4, 1))));
        Assert.Contains("q q has shape [8, 1], expected [16, 1]", ex.Message);
    }

    [Fact]
    public void VisionConcatenatedQkvInterleavesHeads()
    {
        // nhv = 2, dvh = 2: qkv rows 0..11 = [Q0 Q1 K0 K1 V0 V1].
        var hf = KindHarness.Source(TensorFactory.Iota("qkv", 0, 12, 1));
        var kind = new ConcatenatedQkvMapping(P("linear_qkv", 12, 1), heads: 2, "qkv");
        Assert.Equal(R(Span(0, 1), Span(4, 5), Span(8, 9), Span(2, 3), Span(6, 7), Span(10, 11)), KindHarness.Shard(kind, hf, 1, 0));
        Assert.Equal(R(Span(2, 3), Span(6, 7), Span(10, 11)), KindHarness.Shard(kind, hf, 2, 1));
    }

    private static (GdnInProjMapping Kind, MemoryTensorSource Hf) InProj(long h = 1)
    {
        var g = new GdnGeometry(KeyHeads: 2, ValueHeads: 4, KeyHeadDim: 2, ValueHeadDim: 2);
        var hf = KindHarness.Source(
            TensorFactory.Iota("qkv", 0, 16, h), TensorFactory.Iota("z", 100, 8, h),
            TensorFactory.Iota("b", 200, 4, h), TensorFactory.Iota("a", 300, 4, h));
        return (new GdnInProjMapping(P("in_proj", 32, h), g, "qkv", "z", "b", "a"), hf);
    }

    [Fact]
    public void GdnInProjAtTp1IsTheConcatenation()
    {
        var (kind, hf) = InProj();
        Assert.Equal(R(Span(0, 15), Span(100, 107), Span(200, 203), Span(300, 303)), KindHarness.Shard(kind, hf, 1, 0));
    }

    [Fact]
    public void GdnInProjAtTp2IsRankMajor()
    {
        var (kind, hf) = InProj();
        Assert.Equal(R(Span(0, 1), Span(4, 5), Span(8, 11), Span(100, 103), Span(200, 201), Span(300, 301)), KindHarness.Shard(kind, hf, 2, 0));
        Assert.Equal(R(Span(2, 3), Span(6, 7), Span(12, 15), Span(104, 107), Span(202, 203), Span(302, 303)), KindHarness.Shard(kind, hf, 2, 1));
    }

    [Fact]
    public void GdnConv1dAtTp2SplitsEachComponent()
    {
        var g = new GdnGeometry(2, 4, 2, 2);
        var hf = KindHarness.Source(TensorFactory.Iota("conv", 0, 16, 1, 1));
        var kind = new GdnConv1dMapping(P("conv1d", 16, 1, 1), g, "conv");
        Assert.Equal(Span(0, 15), KindHarness.Shard(kind, hf, 1, 0));
        Assert.Equal(R(Span(0, 1), Span(4, 5), Span(8, 11)), KindHarness.Shard(kind, hf, 2, 0));
        Assert.Equal(R(Span(2, 3), Span(6, 7), Span(12, 15)), KindHarness.Shard(kind, hf, 2, 1));
    }

    [Fact]
    public void GatedMlpSplitsGateAndUpSeparately()
    {
        var hf = KindHarness.Source(TensorFactory.Iota("gate", 0, 4, 1), TensorFactory.Iota("up", 100, 4, 1));
        var kind = GatedMlpMapping.Of(P("fc1", 8, 1), "gate", "up");
        Assert.Equal(R(Span(0, 3), Span(100, 103)), KindHarness.Shard(kind, hf, 1, 0));
        Assert.Equal(new[] { 0, 1, 100, 101 }, KindHarness.Shard(kind, hf, 2, 0));
        Assert.Equal(new[] { 2, 3, 102, 103 }, KindHarness.Shard(kind, hf, 2, 1));
    }

    [Fact]
    public void RowParallelSplitsColumnsAndReplicatesBiases()
    {
        var hf = KindHarness.Source(TensorFactory.Iota("w", 0, 2, 4), TensorFactory.Iota("b", 50, 2));
        var w = DirectMapping.Row(P("proj.weight", 2, 4), "w");
        Assert.Equal(new[] { 0, 1, 4, 5 }, KindHarness.Shard(w, hf, 2, 0));
        Assert.Equal(new[] { 2, 3, 6, 7 }, KindHarness.Shard(w, hf, 2, 1));
        var b = DirectMapping.Row(P("proj.bias", 2), "b");
        Assert.Equal(TpSplit.Replicated, b.Split);
        Assert.Equal(new[] { 50, 51 }, KindHarness.Shard(b, hf, 2, 1));
    }

    [Fact]
    public void ColumnParallelSplitsRows()
    {
        var hf = KindHarness.Source(TensorFactory.Iota("e", 0, 4, 2));
        var kind = DirectMapping.Column(P("emb", 4, 2), "e");
        Assert.Equal(new[] { 4, 5, 6, 7 }, KindHarness.Shard(kind, hf, 2, 1));
        var ex = Assert.Throws<InvalidInputException>(() => kind.Links(3));
        Assert.Contains("emb: dimension 0 of size 4 is not divisible by the tensor-parallel size 3", ex.Message);
    }

    [Fact]
    public void ZeroCenteredNormSubtractsOneOnImportAndAddsOneOnExport()
    {
        var data = TensorFactory.BFloat16(1.5f, 0.25f, 3f, -2f);
        var hf = new MemoryTensorSource().Add("norm", DType.BF16, new TensorShape(4), data);
        var kind = new ZeroCenteredNormMapping(P("out_norm.weight", 4), "norm");
        var executor = new RecipeExecutor();
        var imported = executor.ExecuteToMemory(kind.ToMegatron(2, 1, DType.BF16), hf);
        Assert.Equal(TensorFactory.BFloat16(0.5f, -0.75f, 2f, -3f), imported);
        var shards = new MemoryTensorSource().Add(ShardNames.Of("out_norm.weight", 0, 2), DType.BF16, new TensorShape(4), imported);
        var exported = executor.ExecuteToMemory(kind.ToHf(2, DType.BF16).Single(), shards);
        Assert.Equal(data, exported);
    }

    [Fact]
    public void PackedExpertIsTheSliceOfItsExpertAtTp1()
    {
        // E = 2, I = 1, H = 3: gate_up_proj [2, 2, 3], down_proj [2, 3, 1].
        var hf = KindHarness.Source(TensorFactory.Iota("gate_up", 0, 2, 2, 3), TensorFactory.Iota("down", 100, 2, 3, 1));
        var fc1 = ExpertMappings.Fc1(P("fc1.weight1", 2, 3), ExpertLayout.Packed, 1, 2, "gate_up", null);
        var fc2 = ExpertMappings.Fc2(P("fc2.weight1", 3, 1), ExpertLayout.Packed, 1, 2, "down");
        Assert.Equal(Span(6, 11), KindHarness.Shard(fc1, hf, 1, 0));
        Assert.Equal(Span(103, 105), KindHarness.Shard(fc2, hf, 1, 0));
    }

    [Fact]
    public void HubTransposedExpertIsTransposedOnImport()
    {
        // E = 2, I = 1, H = 3: hub gate_up_proj [2, 3, 2] (expert 1 = values 6..11 as [H=3, 2I=2]), down_proj [2, 1, 3].
        var hf = KindHarness.Source(TensorFactory.Iota("gate_up", 0, 2, 3, 2), TensorFactory.Iota("down", 100, 2, 1, 3));
        var fc1 = ExpertMappings.Fc1(P("fc1.weight1", 2, 3), ExpertLayout.PackedTransposed, 1, 2, "gate_up", null);
        var fc2 = ExpertMappings.Fc2(P("fc2.weight1", 3, 1), ExpertLayout.PackedTransposed, 1, 2, "down");
        // gate row = column 0 of the [3, 2] slice, up row = column 1.
        Assert.Equal(new[] { 6, 8, 10, 7, 9, 11 }, KindHarness.Shard(fc1, hf, 1, 0));
        Assert.Equal(new[] { 103, 104, 105 }, KindHarness.Shard(fc2, hf, 1, 0));
    }

    [Fact]
    public void ExportOfAPackedTensorNeedsEveryExpert()
    {
        var fc1 = ExpertMappings.Fc1(P("fc1.weight0", 2, 3), ExpertLayout.Packed, 0, 2, "gate_up", null);
        var ex = Assert.Throws<InvalidInputException>(() => RecipeBuilder.ToHf(new[] { (fc1, 1) }, _ => DType.I32));
        Assert.Contains("gate_up", ex.Message);
        Assert.Contains("missing experts", ex.Message);
    }

    [Fact]
    public void AdjacentRowsBecomeOnePiece()
    {
        // GDN at TP 1 is cat(qkv, z, b, a): one piece per HF tensor.
        var (kind, _) = InProj();
        Assert.Equal(4, kind.ToMegatron(1, 0, DType.I32).Pieces.Count);
        // A packed expert at TP 1 is its whole slice: gate and up rows are adjacent.
        var fc1 = ExpertMappings.Fc1(P("fc1.weight1", 4, 3), ExpertLayout.Packed, 1, 2, "gate_up", null);
        Assert.Single(fc1.ToMegatron(1, 0, DType.I32).Pieces);
    }

    [Fact]
    public void HubExpertExportWritesTheHfTensorInMemoryOrder()
    {
        // The hub layout is transposed: the export pieces walk the HF tensor contiguously and gather from the shard.
        var fc1 = ExpertMappings.Fc1(P("fc1.weight1", 4, 3), ExpertLayout.PackedTransposed, 1, 2, "gate_up", null);
        var fc0 = ExpertMappings.Fc1(P("fc1.weight0", 4, 3), ExpertLayout.PackedTransposed, 0, 2, "gate_up", null);
        var recipe = RecipeBuilder.ToHf(new[] { (fc0, 1), (fc1, 1) }, _ => DType.I32).Single();
        Assert.Equal(2, recipe.Pieces.Count);
        Assert.All(recipe.Pieces, p => Assert.True(p.To.IsContiguous));
        var shards = new MemoryTensorSource()
            .Add(TensorFactory.Iota("fc1.weight0", 0, 4, 3).Meta, TensorFactory.Iota("fc1.weight0", 0, 4, 3).Data)
            .Add(TensorFactory.Iota("fc1.weight1", 100, 4, 3).Meta, TensorFactory.Iota("fc1.weight1", 100, 4, 3).Data);
        // Expert 1's [H=3, 2I=4] slice is the transpose of its [4, 3] fc1.
        var hub = TensorFactory.Ints(new RecipeExecutor().ExecuteToMemory(recipe, shards));
        Assert.Equal(new[] { 100, 103, 106, 109, 101, 104, 107, 110, 102, 105, 108, 111 }, hub.Skip(12).ToArray());
    }
}
