using MegatronBridge.Preprocessing;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

public sealed class AntialiasResamplerTests
{
    private static RgbImage Row(params byte[] grey)
    {
        var pixels = new byte[grey.Length * 3];
        for (int i = 0; i < grey.Length; i++) pixels[i * 3] = pixels[i * 3 + 1] = pixels[i * 3 + 2] = grey[i];
        return new RgbImage(grey.Length, 1, pixels);
    }

    [Theory]
    [InlineData(nameof(ResampleArithmetic.Torchvision))]
    [InlineData(nameof(ResampleArithmetic.Pillow))]
    // The theory takes the enum by name: the library's preprocessing types are internal.
    public void BilinearHalvingAveragesOverTheWidenedTriangle(string arithmeticName)
    {
        var arithmetic = Enum.Parse<ResampleArithmetic>(arithmeticName);
        // Scale 2: support 2 input pixels, output 1 is centred at 3 with weights 1/8, 3/8, 3/8, 1/8 on inputs 1..4,
        // output 2 on inputs 3..6. A ramp 0, 8, ..., 56 gives (8 + 48 + 72 + 32) / 8 = 20 and (24 + 96 + 120 + 48) / 8 = 36.
        var output = AntialiasResampler.Resize(Row(0, 8, 16, 24, 32, 40, 48, 56), 4, 1, ResampleFilter.Bilinear, arithmetic);
        Assert.Equal(4, output.Width);
        Assert.Equal(20, output[0, 1, 0]);
        Assert.Equal(36, output[0, 2, 1]);
        // The first output's window is cut by the edge: weights 3/7, 3/7, 1/7 on 0, 8, 16 -> 40/7 = 5.7 -> 6.
        Assert.Equal(6, output[0, 0, 2]);
    }

    [Theory]
    [InlineData(nameof(ResampleFilter.Bicubic), 37, 23)]
    [InlineData(nameof(ResampleFilter.Bicubic), 5, 90)]
    [InlineData(nameof(ResampleFilter.Bilinear), 64, 7)]
    public void UniformImagesStayUniform(string filterName, int width, int height)
    {
        var filter = Enum.Parse<ResampleFilter>(filterName);
        var source = new RgbImage(17, 11, Enumerable.Repeat((byte)200, 17 * 11 * 3).ToArray());
        var output = AntialiasResampler.Resize(source, width, height, filter);
        Assert.Equal(width * height * 3, output.Pixels.Length);
        Assert.All(output.Pixels, p => Assert.Equal(200, p));
    }

    [Fact]
    public void SameSizeIsACopy()
    {
        var source = new RgbImage(2, 1, new byte[] { 1, 2, 3, 250, 251, 252 });
        var output = AntialiasResampler.Resize(source, 2, 1, ResampleFilter.Bicubic);
        Assert.Equal(source.Pixels, output.Pixels);
        Assert.NotSame(source.Pixels, output.Pixels);
    }

    [Fact]
    public void BicubicOvershootIsClampedToTheByteRange()
    {
        // A hard edge upsampled with a = -0.5 rings past 0 and 255; the result must saturate, not wrap.
        var output = AntialiasResampler.Resize(Row(0, 0, 255, 255), 13, 1, ResampleFilter.Bicubic);
        Assert.Equal(0, output[0, 0, 0]);
        Assert.Equal(255, output[0, 12, 0]);
        for (int x = 1; x < 13; x++) Assert.True(output[0, x, 0] >= output[0, x - 1, 0], $"not monotonic at {x}");
    }
}
