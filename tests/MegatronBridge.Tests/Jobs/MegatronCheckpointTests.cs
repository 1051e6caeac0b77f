using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Jobs;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>The one place every command finds a Megatron checkpoint: format, language-only detection, MTP, stored vocab.</summary>
public class MegatronCheckpointTests
{
    [Theory]
    [InlineData(MegatronFormat.TorchDist, false)]
    [InlineData(MegatronFormat.TorchDist, true)]
    [InlineData(MegatronFormat.Torch, false)]
    [InlineData(MegatronFormat.Torch, true)]
    public void LocateTellsFormatAndDetectsALanguageOnlyImport(MegatronFormat format, bool languageOnly)
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = TestPaths.Fixture("qwen35-vl-dense-tiny");
        var imported = CheckpointConverter.Import(new ImportRequest(hf, tmp.Sub("m"))
        {
            LanguageOnly = languageOnly, Format = format,
            Layout = format == MegatronFormat.Torch ? new ParallelLayout(tp: 2) : ParallelLayout.Single,
        });

        using var checkpoint = MegatronCheckpoint.Locate(imported.MegatronPath);

        Assert.Equal(imported.IterationFolder, checkpoint.Folder);
        Assert.Equal(format, checkpoint.Format);
        Assert.Equal(format == MegatronFormat.Torch, checkpoint.IsLegacy);
        Assert.Equal(format == MegatronFormat.TorchDist, checkpoint.HasTorchDistMetadata);
        Assert.Equal(!languageOnly, checkpoint.HasVisionLanguageNames());
        var config = HfConfig.LoadFromFolder(hf);
        Assert.Equal(languageOnly, checkpoint.IsLanguageOnly(config));
        Assert.True(checkpoint.IsLanguageOnly(config, requested: true));
        Assert.False(checkpoint.IsLanguageOnly(config, requested: false));
        Assert.Equal(imported.VocabRows, checkpoint.StoredVocabRows());
        Assert.Equal(imported.MtpLayerName != null, checkpoint.HasMtp());
    }

    [Fact]
    public void HfFolderHasWeightsOnlyWithASafetensorsFileOrIndex()
    {
        using var tmp = TestPaths.NewTempDir();
        Assert.True(SafetensorsCheckpoint.HasWeights(TestPaths.Fixture("qwen35-vl-dense-tiny")));
        File.Copy(Path.Combine(TestPaths.Fixture("qwen35-vl-dense-tiny"), "config.json"), Path.Combine(tmp.Path, "config.json"));
        Assert.False(SafetensorsCheckpoint.HasWeights(tmp.Path));
        File.WriteAllText(Path.Combine(tmp.Path, SafetensorsCheckpoint.IndexFileName), "{}");
        Assert.True(SafetensorsCheckpoint.HasWeights(tmp.Path));
    }
}
