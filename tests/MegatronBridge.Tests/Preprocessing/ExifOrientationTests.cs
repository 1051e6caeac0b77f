using MegatronBridge.Preprocessing;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

public sealed class ExifOrientationTests
{
    private static readonly string Data = Path.GetFullPath(Path.Combine(TestPaths.Fixture(""), "..", "MegatronBridge.Tests", "Preprocessing", "Data"));

    // 3 x 2 image, pixels a..f = 1..6 (row 0: a b c, row 1: d e f), written into all three channels.
    private static RgbImage Letters()
    {
        var pixels = new byte[3 * 2 * 3];
        for (int i = 0; i < 6; i++) pixels[i * 3] = pixels[i * 3 + 1] = pixels[i * 3 + 2] = (byte)(i + 1);
        return new RgbImage(3, 2, pixels);
    }

    [Theory]
    [InlineData(1, 3, new byte[] { 1, 2, 3, 4, 5, 6 })]  // as stored
    [InlineData(2, 3, new byte[] { 3, 2, 1, 6, 5, 4 })]  // mirror: c b a / f e d
    [InlineData(3, 3, new byte[] { 6, 5, 4, 3, 2, 1 })]  // 180: f e d / c b a
    [InlineData(4, 3, new byte[] { 4, 5, 6, 1, 2, 3 })]  // flip: d e f / a b c
    [InlineData(5, 2, new byte[] { 1, 4, 2, 5, 3, 6 })]  // transpose: a d / b e / c f
    [InlineData(6, 2, new byte[] { 4, 1, 5, 2, 6, 3 })]  // 90 clockwise: d a / e b / f c
    [InlineData(7, 2, new byte[] { 6, 3, 5, 2, 4, 1 })]  // transverse: f c / e b / d a
    [InlineData(8, 2, new byte[] { 3, 6, 2, 5, 1, 4 })]  // 90 counter-clockwise: c f / b e / a d
    public void EachOrientationIsUndoneAsPillowDoes(int orientation, int width, byte[] expected)
    {
        var upright = ExifOrientation.Apply(Letters(), orientation);
        Assert.Equal(width, upright.Width);
        Assert.Equal(6 / width, upright.Height);
        Assert.Equal(expected, Enumerable.Range(0, 6).Select(i => upright.Pixels[i * 3]).ToArray());
    }

    private static byte[] WithOrientation(byte[] jpeg, int orientation, bool bigEndian)
    {
        // APP1 "Exif\0\0" + TIFF header + IFD0 with the single entry 0x0112 SHORT 1 = orientation.
        byte[] tiff = bigEndian
            ? new byte[] { (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (byte)orientation, 0, 0, 0, 0, 0, 0 }
            : new byte[] { (byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (byte)orientation, 0, 0, 0, 0, 0, 0, 0 };
        var body = "Exif\0\0"u8.ToArray().Concat(tiff).ToArray();
        int length = body.Length + 2;
        var segment = new byte[] { 0xFF, 0xE1, (byte)(length >> 8), (byte)length }.Concat(body);
        return jpeg[..2].Concat(segment).Concat(jpeg[2..]).ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LoadTurnsAnExifRotatedJpegUpright(bool bigEndian)
    {
        var jpeg = File.ReadAllBytes(Path.Combine(Data, "smooth_64x48.jpg"));
        var stored = ImageDecoder.Decode(jpeg, "plain");
        using var dir = TestPaths.NewTempDir();
        var path = dir.Sub("rotated.jpg");
        File.WriteAllBytes(path, WithOrientation(jpeg, 6, bigEndian));
        Assert.Equal(6, ExifOrientation.Read(File.ReadAllBytes(path)));

        var upright = ImageDecoder.Load(path);
        Assert.Equal((48, 64), (upright.Width, upright.Height));
        // Rotated clockwise: the stored bottom-left pixel is now top-left, the stored top-left is now top-right.
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(stored[47, 0, c], upright[0, 0, c]);
            Assert.Equal(stored[0, 0, c], upright[0, 47, c]);
            Assert.Equal(stored[0, 63, c], upright[63, 47, c]);
        }
    }

    [Fact]
    public void NoOrDamagedExifMeansAsStored()
    {
        var jpeg = File.ReadAllBytes(Path.Combine(Data, "smooth_64x48.jpg"));
        Assert.Equal(1, ExifOrientation.Read(jpeg));
        var damaged = WithOrientation(jpeg, 6, bigEndian: false);
        damaged[2 + 4 + 6 + 4] = 0xFF; // IFD offset now points far past the segment
        Assert.Equal(1, ExifOrientation.Read(damaged));
        Assert.Equal(1, ExifOrientation.Read(WithOrientation(jpeg, 9, bigEndian: false)));
        Assert.Equal(1, ExifOrientation.Read(File.ReadAllBytes(Path.Combine(Data, "grey_4x3.png"))));
    }
}
