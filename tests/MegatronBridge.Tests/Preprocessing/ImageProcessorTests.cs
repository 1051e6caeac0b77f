using MegatronBridge.IO;
using MegatronBridge.Preprocessing;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

public sealed class ImageProcessorTests
{
    private static readonly ImageProcessorConfig Tiny = new()
    {
        PatchSize = 16, TemporalPatchSize = 2, MergeSize = 2, MinPixels = 64 * 64, MaxPixels = 256 * 256,
        ImageMean = new[] { 0.5f, 0.5f, 0.5f }, ImageStd = new[] { 0.5f, 0.5f, 0.5f },
    };

    private static RgbImage Solid(int width, int height, byte r, byte g, byte b)
    {
        var pixels = new byte[width * height * 3];
        for (int i = 0; i < width * height; i++)
        {
            pixels[i * 3] = r;
            pixels[i * 3 + 1] = g;
            pixels[i * 3 + 2] = b;
        }
        return new RgbImage(width, height, pixels);
    }

    [Fact]
    public void SolidColourNormalisesPerChannel_InEveryRowAndTemporalSlot()
    {
        // (v / 255 - 0.5) / 0.5: 255 -> 1, 0 -> -1, 51 -> -0.6.
        var processed = new ImageProcessor(Tiny).Process(Solid(64, 64, 255, 0, 51));
        Assert.Equal(new GridThw(1, 4, 4), processed.Grid);
        Assert.Equal(16, processed.Rows);
        Assert.Equal(3 * 2 * 16 * 16, processed.RowLength);
        const int perChannel = 2 * 16 * 16;
        for (int row = 0; row < processed.Rows; row++)
        {
            var values = processed.Row(row);
            for (int i = 0; i < perChannel; i++)
            {
                Assert.Equal(1f, values[i]);
                Assert.Equal(-1f, values[perChannel + i]);
                Assert.Equal(-0.6f, values[2 * perChannel + i], 6);
            }
        }
    }

    [Fact]
    public void ImageIsResizedToTheSmartSize()
    {
        var processed = new ImageProcessor(Tiny).Process(Solid(300, 200, 10, 20, 30));
        Assert.Equal((192, 288), (processed.ResizedHeight, processed.ResizedWidth));
        Assert.Equal(new GridThw(1, 12, 18), processed.Grid);
    }

    [Theory]
    // 300x200 -> 288x192 -> 18 x 12 patches -> 54 tokens; 40x260 -> 32x256 -> 2 x 16 -> 8 tokens.
    [InlineData(200, 300, 12, 18, 54)]
    [InlineData(260, 40, 16, 2, 8)]
    public void GridAndTokenCountWithoutPixels(int height, int width, int gridH, int gridW, int tokens)
    {
        var processor = new ImageProcessor(Tiny);
        Assert.Equal(new GridThw(1, gridH, gridW), processor.GridFor(height, width));
        Assert.Equal(tokens, processor.NumImageTokens(height, width));
    }

    [Fact]
    public void RescaleWithoutNormaliseGivesUnitRange()
    {
        var processed = new ImageProcessor(Tiny with { DoNormalize = false }).Process(Solid(64, 64, 255, 0, 51));
        Assert.Equal(1f, processed.PixelValues[0]);
        Assert.Equal(51f / 255f, processed.PixelValues[2 * 2 * 16 * 16], 6);
    }

    public static IEnumerable<object[]> BrokenFiles()
    {
        var png = File.ReadAllBytes(Path.Combine(TestPaths.Fixture("qwen35-processor-tiny"), "noise_300x200.png"));
        yield return new object[] { "empty", Array.Empty<byte>() };
        yield return new object[] { "png-signature-only", png[..8] };
        yield return new object[] { "truncated-png", png[..(png.Length / 3)] };
        yield return new object[] { "text", "hello, not an image"u8.ToArray() };
        yield return new object[] { "jpeg-header-then-garbage", new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 1, 2, 3, 4, 5, 6, 7 } };
    }

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void NotAnImageIsRejectedNamingTheFile(string name, byte[] content)
    {
        using var dir = TestPaths.NewTempDir();
        var path = dir.Sub(name + ".png");
        File.WriteAllBytes(path, content);
        var e = Assert.Throws<InvalidInputException>(() => new ImageProcessor(Tiny).Process(path));
        Assert.Contains(name + ".png", e.Message);
    }

    [Fact]
    public void MissingImageIsReported()
    {
        Assert.Throws<FileNotFoundException>(() => new ImageProcessor(Tiny).Process("/no/such/image.png"));
    }

    [Fact]
    public void ExtremeAspectRatioIsRejected()
    {
        var e = Assert.Throws<InvalidInputException>(() => new ImageProcessor(Tiny).Process(Solid(402, 2, 0, 0, 0)));
        Assert.Contains("aspect ratio", e.Message);
    }
}
