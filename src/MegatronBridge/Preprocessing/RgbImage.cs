namespace MegatronBridge.Preprocessing;

/// <summary>An 8-bit RGB image, row-major, channels interleaved (height, width, 3), as PIL's "RGB" mode holds it.</summary>
internal sealed class RgbImage
{
    public const int Channels = 3;

    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.LongLength != (long)width * height * Channels)
            throw new ArgumentException($"a {width}x{height} RGB image needs {(long)width * height * Channels} bytes, got {pixels.LongLength}", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }
    /// <summary>(height, width, 3) bytes.</summary>
    public byte[] Pixels { get; }

    public byte this[int y, int x, int channel] => Pixels[((long)y * Width + x) * Channels + channel];
}
