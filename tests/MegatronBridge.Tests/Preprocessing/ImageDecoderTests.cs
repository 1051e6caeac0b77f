using MegatronBridge.IO;
using MegatronBridge.Preprocessing;
using MegatronBridge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MegatronBridge.Tests.Preprocessing;

/// <summary>
/// Decoding and RGB conversion on small files made for these tests (Preprocessing/Data): PNGs written byte by byte
/// with known pixels, and a JPEG made by libjpeg-turbo's cjpeg with djpeg's decode beside it (what Pillow, also on
/// libjpeg-turbo, would decode).
/// </summary>
public sealed class ImageDecoderTests
{
    private static readonly string Data = Path.GetFullPath(Path.Combine(TestPaths.Fixture(""), "..", "MegatronBridge.Tests", "Preprocessing", "Data"));
    private readonly ITestOutputHelper _output;

    public ImageDecoderTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void GreyIsReplicatedToThreeChannels()
    {
        var image = ImageDecoder.Load(Path.Combine(Data, "grey_4x3.png"));
        Assert.Equal((4, 3), (image.Width, image.Height));
        for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++)
        for (int c = 0; c < 3; c++)
            Assert.Equal(20 * y + 60 * x, image[y, x, c]);
    }

    [Fact]
    public void AlphaIsDroppedNotComposited()
    {
        // PIL's convert("RGB") keeps the colour whatever the alpha; compositing on white would change it.
        var image = ImageDecoder.Load(Path.Combine(Data, "rgba_4x3.png"));
        for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++)
            Assert.Equal(new[] { 10 * x, 100 + y, 200 }, new int[] { image[y, x, 0], image[y, x, 1], image[y, x, 2] });
    }

    [Fact]
    public void PaletteIsExpanded()
    {
        var palette = new[] { new[] { 255, 0, 0 }, new[] { 0, 255, 0 }, new[] { 10, 20, 250 } };
        var image = ImageDecoder.Load(Path.Combine(Data, "palette_4x3.png"));
        for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++)
            Assert.Equal(palette[(x + y) % 3], new int[] { image[y, x, 0], image[y, x, 1], image[y, x, 2] });
    }

    [Fact]
    public void JpegDecodesCloseToLibjpegTurbo()
    {
        var image = ImageDecoder.Load(Path.Combine(Data, "smooth_64x48.jpg"));
        var (width, height, reference) = ReadPpm(Path.Combine(Data, "smooth_64x48.libjpeg.ppm"));
        Assert.Equal((width, height), (image.Width, image.Height));
        double sum = 0;
        int max = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            int d = Math.Abs(image.Pixels[i] - reference[i]);
            sum += d;
            max = Math.Max(max, d);
        }
        double mean = sum / reference.Length;
        _output.WriteLine($"stb vs libjpeg-turbo: mean abs {mean:F3} levels, max abs {max} levels");
        // stb's IDCT and chroma upsampling differ from libjpeg's in rounding only.
        Assert.True(mean < 0.25, $"mean abs difference {mean} levels");
        Assert.True(max <= 3, $"max abs difference {max} levels");
    }

    [Fact]
    public void TruncatedJpegIsRejectedBeforeDecoding()
    {
        var jpeg = File.ReadAllBytes(Path.Combine(Data, "smooth_64x48.jpg"));
        // Every cut, including ones inside the headers that would make the decoder spin, fails fast and clearly.
        for (int length = 0; length < jpeg.Length; length += 7)
        {
            var e = Assert.Throws<InvalidInputException>(() => ImageDecoder.Decode(jpeg[..length], "cut.jpg"));
            Assert.Contains("cut.jpg", e.Message);
        }
    }

    [Fact]
    public void OtherFormatsAreRejected()
    {
        var e = Assert.Throws<InvalidInputException>(() => ImageDecoder.Decode("GIF89a......"u8.ToArray(), "anim.gif"));
        Assert.Contains("anim.gif", e.Message);
        Assert.Contains("PNG or JPEG", e.Message);
    }

    [Fact]
    public void HugeDeclaredSizeIsRefusedBeforeDecoding()
    {
        // A PNG header claiming 100000 x 100000 pixels; decoding would try to allocate 30 GB.
        var png = File.ReadAllBytes(Path.Combine(Data, "grey_4x3.png"));
        var header = (byte[])png.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(16), 100_000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(20), 100_000);
        var e = Assert.Throws<InvalidInputException>(() => ImageDecoder.Decode(header, "bomb.png"));
        Assert.Contains("bomb.png", e.Message);
    }

    private static (int Width, int Height, byte[] Rgb) ReadPpm(string path)
    {
        var bytes = File.ReadAllBytes(path);
        // "P6\n<w> <h>\n255\n" then raw RGB.
        var text = System.Text.Encoding.ASCII.GetString(bytes, 0, 32);
        var parts = text.Split(new[] { ' ', '\n' }, 5, StringSplitOptions.RemoveEmptyEntries);
        int width = int.Parse(parts[1]), height = int.Parse(parts[2]);
        int headerLength = bytes.Length - width * height * 3;
        return (width, height, bytes[headerLength..]);
    }
}
