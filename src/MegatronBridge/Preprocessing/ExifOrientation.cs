using System.Buffers.Binary;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// The EXIF orientation of a JPEG (tag 0x0112 in IFD0 of the APP1 "Exif" segment) and its undoing, as Pillow's
/// <c>ImageOps.exif_transpose</c> does inside transformers' <c>load_image</c>: phone photos are stored sideways with
/// this tag. A missing or damaged EXIF block means orientation 1 (as stored).
/// </summary>
internal static class ExifOrientation
{
    private const ushort OrientationTag = 0x0112;

    public static int Read(ReadOnlySpan<byte> jpeg)
    {
        if (!JpegStructure.HasSignature(jpeg)) return 1;
        int at = 2;
        while (at + 4 <= jpeg.Length && jpeg[at] == 0xFF)
        {
            byte marker = jpeg[at + 1];
            if (marker == 0xDA || marker == 0xD9) break; // EXIF sits before the scan
            int length = (jpeg[at + 2] << 8) | jpeg[at + 3];
            if (length < 2 || at + 2 + length > jpeg.Length) break;
            var body = jpeg.Slice(at + 4, length - 2);
            if (marker == 0xE1 && body.Length >= 6 && body[..6].SequenceEqual("Exif\0\0"u8))
                return FromTiff(body[6..]);
            at += 2 + length;
        }
        return 1;
    }

    private static int FromTiff(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8) return 1;
        bool little;
        if (tiff[0] == (byte)'I' && tiff[1] == (byte)'I') little = true;
        else if (tiff[0] == (byte)'M' && tiff[1] == (byte)'M') little = false;
        else return 1;
        uint ifd = U32(tiff, 4, little);
        if (ifd > (uint)tiff.Length - 2) return 1;
        int count = U16(tiff, (int)ifd, little);
        for (int i = 0; i < count; i++)
        {
            long entry = ifd + 2 + 12L * i;
            if (entry + 12 > tiff.Length) return 1;
            if (U16(tiff, (int)entry, little) != OrientationTag) continue;
            int value = U16(tiff, (int)entry + 8, little); // SHORT, left-justified in the value field
            return value is >= 1 and <= 8 ? value : 1;
        }
        return 1;
    }

    private static ushort U16(ReadOnlySpan<byte> data, int offset, bool little) =>
        little ? BinaryPrimitives.ReadUInt16LittleEndian(data[offset..]) : BinaryPrimitives.ReadUInt16BigEndian(data[offset..]);

    private static uint U32(ReadOnlySpan<byte> data, int offset, bool little) =>
        little ? BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]) : BinaryPrimitives.ReadUInt32BigEndian(data[offset..]);

    /// <summary>The image turned upright for an EXIF orientation 1..8 (Pillow's transpose for each).</summary>
    public static RgbImage Apply(RgbImage image, int orientation)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (orientation is < 2 or > 8) return image;
        int w = image.Width, h = image.Height;
        bool swap = orientation >= 5;
        int outWidth = swap ? h : w, outHeight = swap ? w : h;
        var output = new byte[image.Pixels.Length];
        var src = image.Pixels;
        for (int oy = 0; oy < outHeight; oy++)
        for (int ox = 0; ox < outWidth; ox++)
        {
            var (x, y) = orientation switch
            {
                2 => (w - 1 - ox, oy),          // mirror left-right
                3 => (w - 1 - ox, h - 1 - oy),  // rotate 180
                4 => (ox, h - 1 - oy),          // mirror top-bottom
                5 => (oy, ox),                  // transpose
                6 => (oy, h - 1 - ox),          // rotate 90 clockwise
                7 => (w - 1 - oy, h - 1 - ox),  // transverse
                _ => (w - 1 - oy, ox),          // 8: rotate 90 counter-clockwise
            };
            long s = ((long)y * w + x) * RgbImage.Channels, d = ((long)oy * outWidth + ox) * RgbImage.Channels;
            output[d] = src[s];
            output[d + 1] = src[s + 1];
            output[d + 2] = src[s + 2];
        }
        return new RgbImage(outWidth, outHeight, output);
    }
}
