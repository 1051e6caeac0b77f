using MegatronBridge.Conversion;
using MegatronBridge.IO;
using Xunit;

namespace MegatronBridge.Tests.Conversion;

public class MegatronNamingTests
{
    private const string VisionFc1 = "vision_model.decoder.layers.1.mlp.linear_fc1.weight";

    /// <summary>The vision parameter is pinned to the first stage, as the vision tower's block pins its parameters.</summary>
    private static readonly MegatronNaming Naming = new("language_model.", numLayers: 8, numExperts: 8, new ParallelLayout(pp: 2, ep: 4),
        new Dictionary<string, PipelineStage> { [VisionFc1] = PipelineStage.First });

    [Fact]
    public void DecoderLayersAndExpertsAreRenumberedLocally()
    {
        var at = Naming.Place("language_model.decoder.layers.5.mlp.experts.linear_fc1.weight7");
        Assert.Equal(new ParamPlacement(1, 0, 3, "language_model.decoder.layers.1.mlp.experts.linear_fc1.weight1"), at);
        Assert.Equal("language_model.decoder.layers.5.mlp.experts.linear_fc1.weight7", Naming.ToGlobal(at.LocalName, 1, 0, 3));

        var seq = Naming.Place("language_model.decoder.layers.2.mlp.experts.local_experts.6.linear_fc2.weight");
        Assert.Equal(new ParamPlacement(0, 0, 3, "language_model.decoder.layers.2.mlp.experts.local_experts.0.linear_fc2.weight"), seq);
    }

    [Fact]
    public void EmbeddingAndVisionAreFirstStageHeadAndMtpLastStage()
    {
        Assert.Equal(new ParamPlacement(0, 0, -1, "language_model.embedding.word_embeddings.weight"), Naming.Place("language_model.embedding.word_embeddings.weight"));
        Assert.Equal(0, Naming.Place(VisionFc1).PpRank);
        Assert.Equal(VisionFc1, Naming.Place(VisionFc1).LocalName);
        Assert.Equal(1, Naming.Place("language_model.output_layer.weight").PpRank);
        Assert.Equal(1, Naming.Place("language_model.decoder.final_layernorm.weight").PpRank);
        var mtp = Naming.Place("language_model.mtp.layers.0.mtp_model_layer.mlp.experts.linear_fc2.weight4");
        Assert.Equal(new ParamPlacement(1, 0, 2, "language_model.mtp.layers.0.mtp_model_layer.mlp.experts.linear_fc2.weight0"), mtp);
    }

    [Fact]
    public void AModuleOutsideTheLanguageModel_IsPlacedWhereItsBlockPinnedIt_NotByItsName()
    {
        var layout = new ParallelLayout(pp: 4, vpp: 2);
        var naming = new MegatronNaming("language_model.", numLayers: 8, numExperts: 0, layout,
            new Dictionary<string, PipelineStage> { ["audio_model.proj.weight"] = PipelineStage.First, ["projector.weight"] = PipelineStage.Last });
        Assert.Equal(new ParamPlacement(0, 0, -1, "audio_model.proj.weight"), naming.Place("audio_model.proj.weight"));
        Assert.Equal(new ParamPlacement(3, 1, -1, "projector.weight"), naming.Place("projector.weight"));
        // A vision name nobody pinned has no stage: the name alone decides nothing outside the language model.
        var unpinned = new MegatronNaming("language_model.", numLayers: 8, numExperts: 0, layout, new Dictionary<string, PipelineStage>());
        var ex = Assert.Throws<InvalidInputException>(() => unpinned.Place(VisionFc1));
        Assert.Contains(VisionFc1, ex.Message);
    }

    [Fact]
    public void UnknownTopLevelNamesAreRejected()
    {
        var ex = Assert.Throws<InvalidInputException>(() => Naming.Place("something.else"));
        Assert.Contains("something.else", ex.Message);
    }

    [Fact]
    public void MtpInnerLayerHasItsCheckpointName()
    {
        Assert.Equal("language_model.mtp.layers.0.transformer_layer.self_attention.linear_qkv.weight",
            MegatronNaming.ToCheckpointName("language_model.mtp.layers.0.mtp_model_layer.self_attention.linear_qkv.weight"));
        Assert.Equal("mtp.layers.0.mtp_model_layer.mlp.linear_fc1.weight", MegatronNaming.FromCheckpointName("mtp.layers.0.transformer_layer.mlp.linear_fc1.weight"));
        Assert.Equal("decoder.layers.0.mlp.linear_fc1.weight", MegatronNaming.ToCheckpointName("decoder.layers.0.mlp.linear_fc1.weight"));
    }
}
