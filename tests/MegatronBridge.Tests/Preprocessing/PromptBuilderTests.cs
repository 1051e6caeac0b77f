using System.Runtime.InteropServices;
using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Preprocessing;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

public sealed class PromptBuilderTests
{
    private static readonly VisionTokenIds Tokens = new(ImageTokenId: 1000, VisionStartTokenId: 1002, VisionEndTokenId: 1003);

    [Theory]
    [InlineData("qwen35-vl-dense-tiny")]
    [InlineData("qwen3-vl-dense-tiny")]
    public void ChatTemplateStylePromptExpandsToTheFixturesImageInputIds(string fixture)
    {
        // The template writes <|vision_start|><|image_pad|><|vision_end|>; transformers expanded it for grid [1, 4, 4]
        // into reference_outputs.safetensors' image_input_ids.
        var folder = TestPaths.Fixture(fixture);
        var config = HfConfig.LoadFromFolder(folder);
        var expected = ReadLongs(folder, "image_input_ids").Select(x => (int)x).ToArray();
        var grid = ReadLongs(folder, "image_grid_thw");
        int image = config.ImageTokenId!.Value;
        int start = config.VisionStartTokenId!.Value;
        int end = config.VisionEndTokenId!.Value;

        // Collapse the expected run of image tokens back to the single placeholder the template writes.
        var prompt = expected.Where((id, i) => id != image || expected[i - 1] != image).ToArray();
        Assert.Equal(new[] { start, image, end }, prompt.SkipWhile(id => id != start).Take(3));

        var expanded = PromptBuilder.ExpandImagePlaceholders(prompt, new[] { new GridThw((int)grid[0], (int)grid[1], (int)grid[2]) }, config);
        Assert.Equal(expected, expanded.InputIds);
        Assert.Equal(expected.Select(id => id == image ? 1 : 0), expanded.MmTokenTypeIds);
    }

    [Fact]
    public void BarePlaceholderGetsTheVisionFrame()
    {
        var expanded = PromptBuilder.ExpandImagePlaceholders(new[] { 5, 1000, 7 }, new[] { new GridThw(1, 4, 2) }, 2, Tokens);
        Assert.Equal(new[] { 5, 1002, 1000, 1000, 1003, 7 }, expanded.InputIds);
        Assert.Equal(new[] { 0, 0, 1, 1, 0, 0 }, expanded.MmTokenTypeIds);
    }

    [Fact]
    public void SeveralImagesExpandInOrder()
    {
        var expanded = PromptBuilder.ExpandImagePlaceholders(
            new[] { 1002, 1000, 1003, 9, 1002, 1000, 1003 }, new[] { new GridThw(1, 2, 2), new GridThw(1, 4, 4) }, 2, Tokens);
        Assert.Equal(new[] { 1002, 1000, 1003, 9, 1002, 1000, 1000, 1000, 1000, 1003 }, expanded.InputIds);
    }

    [Fact]
    public void PlaceholderCountMustMatchTheImages()
    {
        var e = Assert.Throws<InvalidInputException>(() =>
            PromptBuilder.ExpandImagePlaceholders(new[] { 1000, 1000 }, new[] { new GridThw(1, 2, 2) }, 2, Tokens));
        Assert.Contains("2 image placeholder", e.Message);
        Assert.Contains("1 image", e.Message);
    }

    [Fact]
    public void TokenIdsComeFromTheConfig_AndAMissingOneIsNamed()
    {
        var config = HfConfig.Parse("""{"image_token_id": 7, "vision_start_token_id": 8}""", "cfg.json");
        var e = Assert.Throws<InvalidInputException>(() => VisionTokenIds.FromConfig(config));
        Assert.Contains("cfg.json", e.Message);
        Assert.Contains("vision_end_token_id", e.Message);

        var full = HfConfig.Parse("""{"image_token_id": 7, "vision_start_token_id": 8, "vision_end_token_id": 9, "vision_config": {"spatial_merge_size": 1}}""", "cfg.json");
        var expanded = PromptBuilder.ExpandImagePlaceholders(new[] { 7 }, new[] { new GridThw(1, 1, 2) }, full);
        Assert.Equal(new[] { 8, 7, 7, 9 }, expanded.InputIds);
    }

    private static long[] ReadLongs(string folder, string name)
    {
        using var file = SafetensorsFile.Open(Path.Combine(folder, "reference_outputs.safetensors"));
        var entry = file.ByName[name];
        var bytes = new byte[entry.Meta.ByteLength];
        file.Read(entry, 0, bytes);
        return MemoryMarshal.Cast<byte, long>(bytes).ToArray();
    }
}
