using MegatronBridge.IO;
using MegatronBridge.Preprocessing;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

/// <summary>Sizes worked by hand from transformers' smart_resize (factor 32, 64*64 .. 256*256 pixels unless stated).</summary>
public sealed class SmartResizeTests
{
    private const int Factor = 32;
    private const long MinPixels = 64 * 64;
    private const long MaxPixels = 256 * 256;

    [Theory]
    // 77/32 = 2.41 -> 2, 123/32 = 3.84 -> 4: 64 x 128, inside the bounds.
    [InlineData(77, 123, 64, 128)]
    // Python rounds half to even: 80/32 = 2.5 -> 2, 48/32 = 1.5 -> 2.
    [InlineData(80, 48, 64, 64)]
    // 200/32 = 6.25 -> 6, 300/32 = 9.375 -> 9.
    [InlineData(200, 300, 192, 288)]
    [InlineData(260, 40, 256, 32)]
    // Too many pixels: beta = sqrt(1e6 / 65536) = 3.90625, 1000 / beta = 256 exactly.
    [InlineData(1000, 1000, 256, 256)]
    // Too few: beta = sqrt(4096 / 200) = 4.525; 10 * beta / 32 = 1.41 -> 2, 20 * beta / 32 = 2.83 -> 3.
    [InlineData(10, 20, 64, 96)]
    // Too many and very thin: the short side would floor to 0 and is held at one factor.
    [InlineData(40, 7000, 32, 3360)]
    public void ComputesTransformersSizes(int height, int width, int expectedHeight, int expectedWidth)
    {
        Assert.Equal((expectedHeight, expectedWidth), SmartResize.Compute(height, width, Factor, MinPixels, MaxPixels));
    }

    [Fact]
    public void Qwen2VlDefaultsOnAFullHdFrame()
    {
        // factor 28, 56*56 .. 28*28*1280: 1080x1920 has 2,073,600 pixels > 1,003,520, beta = 1.4375;
        // 1080 / 1.4375 / 28 = 26.8 -> 26 * 28 = 728, 1920 / 1.4375 / 28 = 47.7 -> 47 * 28 = 1316.
        Assert.Equal((728, 1316), SmartResize.Compute(1080, 1920, 28, 56 * 56, 28 * 28 * 1280));
    }

    [Theory]
    [InlineData(1, 201)]
    [InlineData(2001, 10)]
    public void RejectsAspectRatiosAbove200(int height, int width)
    {
        var e = Assert.Throws<InvalidInputException>(() => SmartResize.Compute(height, width, Factor, MinPixels, MaxPixels));
        Assert.Contains("aspect ratio", e.Message);
    }

    [Fact]
    public void AcceptsAspectRatioOfExactly200()
    {
        var (h, w) = SmartResize.Compute(1, 200, Factor, MinPixels, MaxPixels);
        Assert.True(h % Factor == 0 && w % Factor == 0 && h * w >= MinPixels);
    }

    [Fact]
    public void RejectsEmptyImages()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SmartResize.Compute(0, 10, Factor, MinPixels, MaxPixels));
    }
}
