using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Conversion.DistKeys;

public class DistKeyPlannerTests
{
    private static TensorMeta P(string name, params long[] shape) => new(name, DType.BF16, new TensorShape(shape));

    private static readonly DistKeyOptions PerLayer = new(LanguagePerLayer: true, NumLayers: 4, VisionDepth: 2, DeepstackMergers: 1,
        NumExperts: 8, GdnQkDim: 4, GdnVDim: 8, GdnValueHeads: 4);

    [Fact]
    public void GdnInProjAndConvSplitIntoNamedKeysByRows()
    {
        var plan = DistKeyPlanner.Plan(new[]
        {
            P("language_model.decoder.layers.0.self_attention.in_proj.weight", 32, 16),
            P("language_model.decoder.layers.0.self_attention.conv1d.weight", 16, 1, 4),
        }, PerLayer);
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
        var plan = DistKeyPlanner.Plan(new[] { P("decoder.layers.3.mlp.linear_fc1.weight", 10, 4) }, PerLayer);
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
        var stacked = PerLayer with { LanguagePerLayer = false };
        var plan = DistKeyPlanner.Plan(new[]
        {
            P("language_model.decoder.layers.2.self_attention.linear_qkv.weight", 24, 8),
            P("language_model.decoder.layers.2.mlp.experts.linear_fc1.weight3", 6, 8),
            P("vision_model.decoder.layers.1.mlp.linear_fc1.weight", 12, 8),
        }, stacked);
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
        var plan = DistKeyPlanner.Plan(new[]
        {
            P("language_model.mtp.layers.0.mtp_model_layer.self_attention.linear_qkv.weight", 24, 8),
            P("language_model.output_layer.weight", 32, 8),
        }, PerLayer);
        Assert.Equal("language_model.mtp.layers.0.transformer_layer.self_attention.linear_qkv.weight", plan.Tensors[0].Key);
        Assert.Equal(new[] { ExtraStateValue.EmptyUint8Tensor, ExtraStateValue.None }, plan.Objects.Select(o => o.Value));
        Assert.Equal("language_model.output_layer._extra_state/shard_0_1", plan.Objects[1].UniqueKey);
    }

    [Fact]
    public void ParamSegmentsReassembleEveryParameterFromItsChunks()
    {
        var stacked = PerLayer with { LanguagePerLayer = false };
        var fc1 = P("language_model.decoder.layers.1.mlp.experts.linear_fc1.weight5", 6, 2);
        var plan = DistKeyPlanner.Plan(new[] { fc1 }, stacked);
        var segments = plan.ParamSegments()[fc1.Name];
        // Global [4, 8, 6, 2] bf16: layer 1, expert 5 starts at element (1*8 + 5) * 12; the halves are 6 elements each.
        long start = (1 * 8 + 5) * 12 * 2;
        Assert.Equal(new[] { new ByteSegment(plan.Tensors[0].Key, start, 12), new ByteSegment(plan.Tensors[0].Key, start + 12, 12) }, segments);
    }
}
