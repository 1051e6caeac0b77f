using MegatronBridge.Conversion;
using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Conversion.DistKeys;

/// <summary>
/// The planner places each parameter by the torch_dist layout its module scope gives it (key, stacked axes, row
/// sections); these tests build the parameters through <see cref="ModuleScope"/> as the model blocks do.
/// </summary>
public class DistKeyPlannerTests
{
    private static readonly DistKeyOptions Options = new();

    /// <summary>GDN sizes of the tests: nk*dk = 4, nv*dv = 8, nv = 4.</summary>
    private static readonly DistRows InProj = DistRows.NamedSections(new("query", 4), new("key", 4), new("value", 8), new("z", 8), new("beta", 4), new("alpha", 4));
    private static readonly DistRows Conv1d = DistRows.NamedSections(new("query", 4), new("key", 4), new("value", 8));

    private static DistKeyPlan Plan(ModuleTree tree) => DistKeyPlanner.Plan(tree.Parameters, _ => DType.BF16, Options);

    /// <summary>Layer <paramref name="layer"/> of a 4-layer decoder, per-layer keys or stacked.</summary>
    private static ModuleScope Layer(ModuleTree tree, string prefix, int layer, bool stacked = false) =>
        tree.Scope(prefix).Module("decoder").Entry("layers", layer, 4, stacked);

    private static TensorShape S(params long[] dims) => new(dims);

    [Fact]
    public void GdnInProjAndConvSplitIntoNamedKeysByRows()
    {
        var tree = new ModuleTree();
        var attention = Layer(tree, "language_model.", 0).Module("self_attention");
        attention.Param("in_proj.weight", S(32, 16), InProj);
        attention.Param("conv1d.weight", S(16, 1, 4), Conv1d);
        var plan = Plan(tree);
        var keys = plan.Tensors.Select(k => (k.Key, string.Join(",", k.GlobalShape), k.Chunks.Single().RowStart)).ToArray();
        Assert.Equal(new[]
        {
            ("language_model.decoder.layers.0.self_attention.in_proj.weight.query", "4,16", 0L),
            ("language_model.decoder.layers.0.self_attention.in_proj.weight.key", "4,16", 4L),
            ("language_model.decoder.layers.0.self_attention.in_proj.weight.value", "8,16", 8L),
            ("language_model.decoder.layers.0.self_attention.in_proj.weight.z", "8,16", 16L),
            ("language_model.decoder.layers.0.self_attention.in_proj.weight.beta", "4,16", 24L),
            ("language_model.decoder.layers.0.self_attention.in_proj.weight.alpha", "4,16", 28L),
            ("language_model.decoder.layers.0.self_attention.conv1d.weight.query", "4,1,4", 0L),
            ("language_model.decoder.layers.0.self_attention.conv1d.weight.key", "4,1,4", 4L),
            ("language_model.decoder.layers.0.self_attention.conv1d.weight.value", "8,1,4", 8L),
        }, keys);
        Assert.Equal(new[] { "language_model.decoder.layers.0.self_attention.in_proj._extra_state/shard_0_1" }, plan.Objects.Select(o => o.UniqueKey));
    }

    [Fact]
    public void GatedFc1IsTwoChunksOfOneKeyWithIndexHints()
    {
        var tree = new ModuleTree();
        Layer(tree, "", 3).Param("mlp.linear_fc1.weight", S(10, 4), DistRows.GatedHalves);
        var plan = Plan(tree);
        var key = Assert.Single(plan.Tensors);
        Assert.Equal("decoder.layers.3.mlp.linear_fc1.weight", key.Key);
        Assert.Equal(new long[] { 10, 4 }, key.GlobalShape);
        Assert.Equal(new long[] { 0, 0 }, key.Chunks[0].Offsets);
        Assert.Equal(new long[] { 5, 0 }, key.Chunks[1].Offsets);
        Assert.Equal(new long[] { 5, 4 }, key.Chunks[1].Sizes);
        Assert.Equal(new int?[] { 0, 1 }, key.Chunks.Select(c => c.IndexHint));
    }

    [Fact]
    public void StackedLayersAndExpertsGainLeadingAxes()
    {
        var tree = new ModuleTree();
        var layer = Layer(tree, "language_model.", 2, stacked: true);
        layer.Param("self_attention.linear_qkv.weight", S(24, 8));
        layer.Module("mlp.experts").GroupedParam("linear_fc1.weight", 3, 8, S(6, 8), DistRows.GatedHalves);
        tree.Scope("vision_model.").Module("decoder").StackedEntry("layers", 1, 2).Param("mlp.linear_fc1.weight", S(12, 8));
        var plan = Plan(tree);
        var qkv = plan.Tensors[0];
        Assert.Equal("language_model.decoder.layers.self_attention.linear_qkv.weight", qkv.Key);
        Assert.Equal(new long[] { 4, 24, 8 }, qkv.GlobalShape);
        Assert.Equal(new long[] { 2, 0, 0 }, qkv.Chunks.Single().Offsets);
        Assert.Equal(new long[] { 1, 24, 8 }, qkv.Chunks.Single().Sizes);
        Assert.Null(qkv.Chunks.Single().IndexHint);

        var experts = plan.Tensors[1];
        Assert.Equal("language_model.decoder.layers.mlp.experts.linear_fc1.weight", experts.Key);
        Assert.Equal(new long[] { 4, 8, 6, 8 }, experts.GlobalShape);
        Assert.Equal(new[] { "2,3,0,0", "2,3,3,0" }, experts.Chunks.Select(c => string.Join(",", c.Offsets)));

        var vision = plan.Tensors[2];
        Assert.Equal("vision_model.decoder.layers.mlp.linear_fc1.weight", vision.Key);
        Assert.Single(vision.Chunks); // the vision MLP is not gated

        Assert.Equal(new[]
        {
            "language_model.decoder.layers.self_attention.linear_qkv._extra_state/shard_2_4",
            "language_model.decoder.layers.mlp.experts.linear_fc1._extra_state/shard_2.3_4.8",
            "vision_model.decoder.layers.mlp.linear_fc1._extra_state/shard_1_2",
        }, plan.Objects.Select(o => o.UniqueKey));
    }

    [Fact]
    public void MtpInnerLayerUsesTheLegacyNameAndOutputLayerStateIsNone()
    {
        var tree = new ModuleTree();
        var lm = tree.Scope("language_model.");
        lm.Module("mtp").Entry("layers", 0).Module(MtpLayerNames.ModelLayer).Param("self_attention.linear_qkv.weight", S(24, 8));
        lm.Param("output_layer.weight", S(32, 8));
        var plan = Plan(tree);
        Assert.Equal("language_model.mtp.layers.0.transformer_layer.self_attention.linear_qkv.weight", plan.Tensors[0].Key);
        Assert.Equal(new[] { ExtraStateValue.EmptyUint8Tensor, ExtraStateValue.None }, plan.Objects.Select(o => o.Value));
        Assert.Equal("language_model.output_layer._extra_state/shard_0_1", plan.Objects[1].UniqueKey);
    }

    [Fact]
    public void ParamSegmentsReassembleEveryParameterFromItsChunks()
    {
        var tree = new ModuleTree();
        var fc1 = Layer(tree, "language_model.", 1, stacked: true).Module("mlp.experts").GroupedParam("linear_fc1.weight", 5, 8, S(6, 2), DistRows.GatedHalves);
        var plan = Plan(tree);
        var segments = plan.ParamSegments()[fc1.Name];
        // Global [4, 8, 6, 2] bf16: layer 1, expert 5 starts at element (1*8 + 5) * 12; the halves are 6 elements each.
        long start = (1 * 8 + 5) * 12 * 2;
        Assert.Equal(new[] { new ByteSegment(plan.Tensors[0].Key, start, 12), new ByteSegment(plan.Tensors[0].Key, start + 12, 12) }, segments);
    }

    [Fact]
    public void RowSectionsComeFromTheParametersDescriptionNotItsName()
    {
        var tree = new ModuleTree();
        var layer = Layer(tree, "language_model.", 0);
        // The GDN description under another module name gives the same sections ...
        layer.Param("mixer.fused_input.weight", S(32, 16), InProj);
        // ... and a parameter named like GDN's in_proj without the description is stored whole.
        Layer(tree, "language_model.", 1).Param("self_attention.in_proj.weight", S(32, 16));
        var plan = Plan(tree);
        var keys = plan.Tensors.Select(k => (k.Key, string.Join(",", k.GlobalShape), k.Chunks.Single().RowStart, k.Chunks.Single().RowCount)).ToArray();
        Assert.Equal(new[]
        {
            ("language_model.decoder.layers.0.mixer.fused_input.weight.query", "4,16", 0L, 4L),
            ("language_model.decoder.layers.0.mixer.fused_input.weight.key", "4,16", 4L, 4L),
            ("language_model.decoder.layers.0.mixer.fused_input.weight.value", "8,16", 8L, 8L),
            ("language_model.decoder.layers.0.mixer.fused_input.weight.z", "8,16", 16L, 8L),
            ("language_model.decoder.layers.0.mixer.fused_input.weight.beta", "4,16", 24L, 4L),
            ("language_model.decoder.layers.0.mixer.fused_input.weight.alpha", "4,16", 28L, 4L),
            ("language_model.decoder.layers.1.self_attention.in_proj.weight", "32,16", 0L, 32L),
        }, keys);
    }

    [Fact]
    public void SectionsThatDoNotAddUpToTheRowsAreRefusedNamingTheParameter()
    {
        var tree = new ModuleTree();
        Layer(tree, "", 0).Param("self_attention.in_proj.weight", S(30, 16), InProj);
        var ex = Assert.Throws<InvalidOperationException>(() => Plan(tree));
        Assert.Contains("'decoder.layers.0.self_attention.in_proj.weight' has 30 rows", ex.Message);
        Assert.Contains("add up to 32", ex.Message);
    }

    [Fact]
    public void AParameterBuiltOutsideAModelTreeCannotBePlanned()
    {
        var ex = Assert.Throws<InvalidOperationException>(() =>
            DistKeyPlanner.Plan(new[] { new MegatronParam("output_layer.weight", S(4, 2)) }, _ => DType.BF16, Options));
        Assert.Contains("output_layer.weight: no torch_dist layout", ex.Message);
    }
}
