using StbImageSharp;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// Decodes PNG, JPEG, BMP, GIF (first frame) and TGA files to 8-bit RGB with StbImageSharp. Conversion to RGB follows
/// PIL's <c>convert("RGB")</c>, which is what transformers' <c>convert_to_rgb</c> does: grey is replicated, a palette
/// is expanded, alpha is dropped (not composited). 16-bit samples keep their high byte.
/// </summary>
public static class ImageDecoder
{
    public static RgbImage Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: image not found", path);
        using var stream = File.OpenRead(path);
        return Decode(stream, path);
    }

    public static RgbImage Decode(Stream stream, string where)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ImageResult result;
        try
        {
            result = ImageResult.FromStream(stream, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or NotSupportedException or EndOfStreamException)
        {
            // stb reports bad files with assorted exception types; normalise them to one clear message.
            throw new InvalidDataException($"{where}: not a decodable image ({e.Message})", e);
        }
        if (result is null || result.Data is null || result.Width <= 0 || result.Height <= 0)
            throw new InvalidDataException($"{where}: not a decodable image");
        if (result.Data.Length != result.Width * result.Height * RgbImage.Channels)
            throw new InvalidDataException($"{where}: decoder returned {result.Data.Length} bytes for a {result.Width}x{result.Height} RGB image");
        return new RgbImage(result.Width, result.Height, result.Data);
    }
}
