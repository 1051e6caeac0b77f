using MegatronBridge.IO;
using MegatronBridge.Preprocessing;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

public sealed class ImageProcessorConfigTests
{
    [Fact]
    public void ReadsTheFixtureConfig()
    {
        var config = ImageProcessorConfig.FromFolder(TestPaths.Fixture("qwen35-processor-tiny"));
        Assert.Equal(16, config.PatchSize);
        Assert.Equal(2, config.TemporalPatchSize);
        Assert.Equal(2, config.MergeSize);
        Assert.Equal(32, config.Factor);
        Assert.Equal(4096, config.MinPixels);
        Assert.Equal(65536, config.MaxPixels);
        Assert.Equal(ResampleFilter.Bicubic, config.Resample);
        Assert.Equal(1.0 / 255, config.RescaleFactor, 15);
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f }, config.ImageMean);
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f }, config.ImageStd);
    }

    [Fact]
    public void TopLevelMinMaxPixelsOverrideSize()
    {
        var config = ImageProcessorConfig.Parse(
            """{"size": {"shortest_edge": 100, "longest_edge": 1000}, "min_pixels": 200, "max_pixels": 2000}""", "p.json");
        Assert.Equal(200, config.MinPixels);
        Assert.Equal(2000, config.MaxPixels);
    }

    [Fact]
    public void OlderSizeSpellingIsAccepted()
    {
        var config = ImageProcessorConfig.Parse("""{"size": {"min_pixels": 3136, "max_pixels": 12845056}}""", "p.json");
        Assert.Equal(3136, config.MinPixels);
        Assert.Equal(12845056, config.MaxPixels);
    }

    [Fact]
    public void AbsentFieldsTakeTransformersDefaults()
    {
        var config = ImageProcessorConfig.Parse("{}", "p.json");
        Assert.Equal(14, config.PatchSize);
        Assert.Equal(56 * 56, config.MinPixels);
        Assert.Equal(28 * 28 * 1280, config.MaxPixels);
        Assert.Equal(0.48145466f, config.ImageMean[0]);
        Assert.Equal(0.27577711f, config.ImageStd[2]);
    }

    [Fact]
    public void ProcessorConfigJsonWithNestedImageProcessorIsRead()
    {
        using var dir = TestPaths.NewTempDir();
        File.WriteAllText(dir.Sub("processor_config.json"), """{"image_processor": {"patch_size": 16, "merge_size": 2}}""");
        Assert.Equal(16, ImageProcessorConfig.FromFolder(dir.Path).PatchSize);
    }

    [Theory]
    [InlineData("""{"resample": 1}""", "resample")]
    [InlineData("""{"patch_size": 0}""", "patch_size")]
    [InlineData("""{"image_mean": [0.5, 0.5]}""", "image_mean")]
    [InlineData("""{"image_std": [0.5, "x", 0.5]}""", "image_std[1]")]
    [InlineData("""{"min_pixels": 5000, "max_pixels": 10}""", "max_pixels")]
    [InlineData("""{"patch_size": "16"}""", "patch_size")]
    [InlineData("""[1, 2]""", "not a JSON object")]
    [InlineData("""{"patch""", "not valid JSON")]
    public void BadConfigsAreRejectedNamingTheFileAndField(string json, string field)
    {
        var e = Assert.Throws<InvalidInputException>(() => ImageProcessorConfig.Parse(json, "bad/preprocessor_config.json"));
        Assert.Contains("bad/preprocessor_config.json", e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void MissingConfigIsReported()
    {
        using var dir = TestPaths.NewTempDir();
        Assert.Throws<FileNotFoundException>(() => ImageProcessorConfig.FromFolder(dir.Path));
    }
}
