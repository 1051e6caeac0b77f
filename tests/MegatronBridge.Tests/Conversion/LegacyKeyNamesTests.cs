using MegatronBridge.Conversion;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using Xunit;

namespace MegatronBridge.Tests.Conversion;

public class LegacyKeyNamesTests
{
    [Theory]
    [InlineData("language_model.decoder.layers.1.mlp.experts.linear_fc1.weight12", "language_model.decoder.layers.1.mlp.experts.local_experts.12.linear_fc1.weight")]
    [InlineData("mtp.layers.0.mtp_model_layer.mlp.experts.linear_fc2.weight0", "mtp.layers.0.mtp_model_layer.mlp.experts.local_experts.0.linear_fc2.weight")]
    public void GroupedAndSequentialExpertNamesConvertBothWays(string grouped, string sequential)
    {
        Assert.Equal(sequential, MegatronNaming.ToSequentialExpert(grouped));
        Assert.Equal(grouped, MegatronNaming.FromSequentialExpert(sequential));
        Assert.True(MegatronNaming.IsSequentialExpert(sequential));
        Assert.False(MegatronNaming.IsSequentialExpert(grouped));
    }

    [Theory]
    [InlineData("decoder.layers.0.mlp.experts.linear_fc1._extra_state")]
    [InlineData("decoder.layers.0.mlp.shared_experts.linear_fc1.weight")]
    [InlineData("decoder.layers.0.mlp.linear_fc1.weight")]
    public void OtherNamesAreLeftAlone(string name)
    {
        Assert.Equal(name, MegatronNaming.ToSequentialExpert(name));
        Assert.Equal(name, MegatronNaming.FromSequentialExpert(name));
        Assert.Equal(name, LegacyKeyNames.Normalize(name));
    }

    [Fact]
    public void EachPrefixIsReadInTheLayoutItHas()
    {
        // Decoder experts sequential, MTP experts grouped under the old inner-layer name: each normalised on its own.
        Assert.Equal("decoder.layers.2.mlp.experts.linear_fc1.weight5", LegacyKeyNames.Normalize("decoder.layers.2.mlp.experts.local_experts.5.linear_fc1.weight"));
        Assert.Equal("mtp.layers.0.mtp_model_layer.mlp.experts.linear_fc1.weight5", LegacyKeyNames.Normalize("mtp.layers.0.transformer_layer.mlp.experts.linear_fc1.weight5"));
        // transformer_layer outside MTP is not renamed.
        Assert.Equal("vision_model.transformer_layer.x.weight", LegacyKeyNames.Normalize("vision_model.transformer_layer.x.weight"));
    }

    [Fact]
    public void ApplyWritesTheChosenNames()
    {
        var names = new LegacyKeyNames { MtpLayerName = MtpLayerNames.TransformerLayer, SequentialExperts = true };
        Assert.Equal("mtp.layers.0.transformer_layer.mlp.experts.local_experts.1.linear_fc1.weight",
            names.Apply("mtp.layers.0.mtp_model_layer.mlp.experts.linear_fc1.weight1"));
        Assert.Equal("mtp.layers.0.mtp_model_layer.mlp.linear_fc1.weight", LegacyKeyNames.Default.Apply("mtp.layers.0.mtp_model_layer.mlp.linear_fc1.weight"));
    }

    [Fact]
    public void MtpLayerNameOfACheckpoint_IsTheOneItsKeysUse_AndBothAreRefused()
    {
        Assert.Equal(MtpLayerNames.ModelLayer, TorchDistExport.MtpLayerName(new[] { "decoder.layers.0.x.weight", "mtp.layers.0.mtp_model_layer.x.weight" }, "ckpt"));
        Assert.Null(TorchDistExport.MtpLayerName(new[] { "decoder.layers.0.x.weight" }, "ckpt"));
        var e = Assert.Throws<InvalidInputException>(() => TorchDistExport.MtpLayerName(
            new[] { "mtp.layers.0.mtp_model_layer.a.weight", "mtp.layers.0.transformer_layer.b.weight" }, "ckpt"));
        Assert.Contains("ckpt", e.Message);
        Assert.Contains("mtp.layers.0.transformer_layer.b.weight", e.Message);
    }
}
