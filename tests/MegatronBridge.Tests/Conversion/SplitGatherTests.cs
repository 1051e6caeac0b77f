using MegatronBridge.Conversion;
using MegatronBridge.Conversion.Kinds;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Conversion;

/// <summary>For every kind: import at TP t then export gives back the HF tensors, byte for byte, for t in {1, 2, 4}.</summary>
public class SplitGatherTests
{
    private static MegatronParam P(string name, params long[] shape) => new(name, new TensorShape(shape));

    public static IEnumerable<object[]> TpSizes() => new[] { 1, 2, 4 }.Select(t => new object[] { t });

    private static void RoundTrip(IReadOnlyList<MappingKind> kinds, MemoryTensorSource hf, int tp)
    {
        var shards = KindHarness.Import(kinds, hf, tp);
        Assert.Equal(kinds.Count * tp, shards.Tensors.Count);
        var back = KindHarness.Export(kinds, shards, tp);
        var expectedNames = kinds.SelectMany(k => k.HfTensors).Select(t => t.Name).Distinct().OrderBy(n => n, StringComparer.Ordinal);
        Assert.Equal(expectedNames, back.Keys.OrderBy(n => n, StringComparer.Ordinal));
        foreach (var (name, bytes) in back) Assert.Equal(hf.Data(name), bytes);
    }

    [Theory, MemberData(nameof(TpSizes))]
    public void Direct(int tp)
    {
        var hf = KindHarness.Source(TensorFactory.Iota("c", 0, 8, 3), TensorFactory.Iota("r", 100, 3, 8), TensorFactory.Iota("n", 200, 5), TensorFactory.Iota("rb", 300, 3));
        RoundTrip(new MappingKind[]
        {
            DirectMapping.Column(P("c", 8, 3), "c"), DirectMapping.Row(P("r", 3, 8), "r"),
            DirectMapping.Replicated(P("n", 5), "n"), DirectMapping.Row(P("rb", 3), "rb"),
        }, hf, tp);
    }

    [Theory, MemberData(nameof(TpSizes))]
    public void Qkv(int tp)
    {
        var g = new QkvGeometry(8, 4, 2, OutputGate: true);
        var hf = KindHarness.Source(TensorFactory.Iota("q", 0, 32, 3), TensorFactory.Iota("k", 1000, 8, 3), TensorFactory.Iota("v", 2000, 8, 3));
        RoundTrip(new MappingKind[] { QkvMapping.Of(P("qkv", 48, 3), g, "q", "k", "v") }, hf, tp);
    }

    [Theory, MemberData(nameof(TpSizes))]
    public void ConcatenatedQkv(int tp)
    {
        var hf = KindHarness.Source(TensorFactory.Iota("w", 0, 24, 8), TensorFactory.Iota("b", 500, 24));
        RoundTrip(new MappingKind[] { new ConcatenatedQkvMapping(P("w", 24, 8), 4, "w"), new ConcatenatedQkvMapping(P("b", 24), 4, "b") }, hf, tp);
    }

    [Theory, MemberData(nameof(TpSizes))]
    public void GatedMlp(int tp)
    {
        var hf = KindHarness.Source(TensorFactory.Iota("g", 0, 8, 3), TensorFactory.Iota("u", 100, 8, 3));
        RoundTrip(new MappingKind[] { GatedMlpMapping.Of(P("fc1", 16, 3), "g", "u") }, hf, tp);
    }

    [Theory, MemberData(nameof(TpSizes))]
    public void GdnInProjAndConv(int tp)
    {
        var g = new GdnGeometry(4, 8, 2, 3);
        var hf = KindHarness.Source(
            TensorFactory.Iota("qkv", 0, 2 * 8 + 24, 3), TensorFactory.Iota("z", 1000, 24, 3),
            TensorFactory.Iota("b", 2000, 8, 3), TensorFactory.Iota("a", 3000, 8, 3), TensorFactory.Iota("conv", 4000, 40, 1, 4));
        RoundTrip(new MappingKind[]
        {
            new GdnInProjMapping(P("in_proj", g.InProjRows, 3), g, "qkv", "z", "b", "a"),
            new GdnConv1dMapping(P("conv1d", 40, 1, 4), g, "conv"),
        }, hf, tp);
    }

    [Theory, MemberData(nameof(TpSizes))]
    public void Experts(int tp)
    {
        const int e = 4;
        foreach (var layout in new[] { ExpertLayout.Packed, ExpertLayout.PackedTransposed })
        {
            var hf = layout == ExpertLayout.Packed
                ? KindHarness.Source(TensorFactory.Iota("gu", 0, e, 8, 3), TensorFactory.Iota("d", 1000, e, 3, 4))
                : KindHarness.Source(TensorFactory.Iota("gu", 0, e, 3, 8), TensorFactory.Iota("d", 1000, e, 4, 3));
            var kinds = Enumerable.Range(0, e).SelectMany(x => new[]
            {
                ExpertMappings.Fc1(P($"fc1.weight{x}", 8, 3), layout, x, e, "gu", null),
                ExpertMappings.Fc2(P($"fc2.weight{x}", 3, 4), layout, x, e, "d"),
            }).ToList();
            RoundTrip(kinds, hf, tp);
        }
    }

    [Theory, MemberData(nameof(TpSizes))]
    public void ZeroCenteredNorm(int tp)
    {
        // Values whose w - 1 is exact in bf16 come back bit for bit; each TP rank holds the whole (w - 1).
        var data = TensorFactory.BFloat16(1.5f, 2f, 3f, -2f, 0.75f, 1.25f);
        var hf = new MemoryTensorSource("hf").Add("norm", DType.BF16, new TensorShape(6), data);
        var kind = new ZeroCenteredNormMapping(P("out_norm.weight", 6), "norm");
        var executor = new RecipeExecutor();
        var shards = new MemoryTensorSource("megatron");
        for (int r = 0; r < tp; r++)
        {
            var recipe = kind.ToMegatron(tp, r, DType.BF16, ShardNames.Of(kind.Megatron.Name, r, tp));
            var bytes = executor.ExecuteToMemory(recipe, hf);
            Assert.Equal(TensorFactory.BFloat16(0.5f, 1f, 2f, -3f, -0.25f, 0.25f), bytes);
            shards.Add(recipe.Output, bytes);
        }
        Assert.Equal(data, executor.ExecuteToMemory(kind.ToHf(tp, DType.BF16).Single(), shards));
    }
}
