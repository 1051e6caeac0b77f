using StbImageSharp;
using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// Decodes PNG and JPEG files to 8-bit RGB with StbImageSharp. Conversion to RGB follows PIL's
/// <c>convert("RGB")</c>, which is what transformers' <c>convert_to_rgb</c> does: grey is replicated, a palette is
/// expanded, alpha is dropped (not composited); 16-bit samples keep their high byte. <see cref="Load"/> also turns
/// JPEGs upright by their EXIF orientation, as transformers' <c>load_image</c> does for a path; <see cref="Decode"/>
/// gives the pixels as stored.
/// </summary>
internal static class ImageDecoder
{
    /// <summary>Larger images are refused before decoding (Pillow's decompression-bomb limit is of the same order).</summary>
    public const long MaxPixels = 1L << 28;
    private const long MaxFileBytes = 512L << 20;
    private static readonly byte[] PngSignature = { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };

    public static RgbImage Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: image not found", path);
        long length = new FileInfo(path).Length;
        if (length > MaxFileBytes) throw new InvalidInputException($"{path}: image file of {length} bytes is larger than {MaxFileBytes}");
        MegatronBridge.IO.InputFile.EnsureRegular(path);
        var data = File.ReadAllBytes(path);
        return ExifOrientation.Apply(Decode(data, path), ExifOrientation.Read(data));
    }

    public static RgbImage Decode(byte[] data, string where)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (JpegStructure.HasSignature(data)) JpegStructure.Validate(data, where);
        else if (!data.AsSpan().StartsWith(PngSignature)) throw new InvalidInputException($"{where}: not a PNG or JPEG file");

        // The PNG header's own size first: the decoder's header reader gives up on very large images without saying
        // why, which read as a damaged file.
        if (data.AsSpan().StartsWith(PngSignature) && data.Length >= 24 && data.AsSpan(12, 4).SequenceEqual("IHDR"u8))
        {
            long width = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(16));
            long height = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(20));
            if (width <= 0 || height <= 0 || width * height > MaxPixels)
                throw new InvalidInputException($"{where}: image size {width}x{height} is empty or above {MaxPixels} pixels (the limit of this reference processor); resize it first");
        }
        ImageResult result;
        try
        {
            var info = ImageInfo.FromStream(new MemoryStream(data, writable: false))
                ?? throw new InvalidInputException($"{where}: image header could not be read");
            if (info.Width <= 0 || info.Height <= 0 || (long)info.Width * info.Height > MaxPixels)
                throw new InvalidInputException($"{where}: image size {info.Width}x{info.Height} is empty or above {MaxPixels} pixels");
            result = ImageResult.FromMemory(data, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not OutOfMemoryException and not InvalidInputException)
        {
            // stb reports bad files with assorted exception types (plain Exception, index errors on truncated data);
            // normalise them to one clear message naming the file.
            throw new InvalidInputException($"{where}: not a decodable image ({e.Message.Trim()})", e);
        }
        if (result is null || result.Data is null || result.Width <= 0 || result.Height <= 0)
            throw new InvalidInputException($"{where}: not a decodable image");
        if (result.Data.Length != result.Width * result.Height * RgbImage.Channels)
            throw new InvalidInputException($"{where}: decoder returned {result.Data.Length} bytes for a {result.Width}x{result.Height} RGB image");
        return new RgbImage(result.Width, result.Height, result.Data);
    }
}
