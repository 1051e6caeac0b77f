using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// Walks a JPEG's marker segments before decoding. StbImageSharp can spin forever on a JPEG cut short inside its
/// headers (it reads zeros past the end), so a file must hold a frame header, a scan and an end-of-image marker,
/// with every segment inside the file, before it is handed to the decoder.
/// </summary>
internal static class JpegStructure
{
    public static bool HasSignature(ReadOnlySpan<byte> data) => data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;

    /// <summary>Throws InvalidInputException (prefixed with <paramref name="where"/>) unless the marker structure is whole.</summary>
    public static void Validate(ReadOnlySpan<byte> data, string where)
    {
        if (!HasSignature(data)) throw new InvalidInputException($"{where}: not a JPEG (no start-of-image marker)");
        int at = 2;
        bool frame = false, scan = false;
        while (true)
        {
            if (at >= data.Length || data[at] != 0xFF)
                throw new InvalidInputException($"{where}: JPEG is truncated or damaged (expected a marker at byte {at})");
            while (at < data.Length && data[at] == 0xFF) at++; // fill bytes
            if (at >= data.Length) throw new InvalidInputException($"{where}: JPEG is truncated (ends inside a marker)");
            byte marker = data[at++];
            if (marker == 0xD9)
            {
                if (!frame || !scan) throw new InvalidInputException($"{where}: JPEG ends before any image data");
                return;
            }
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue; // standalone markers
            if (at + 2 > data.Length) throw new InvalidInputException($"{where}: JPEG is truncated (segment length missing at byte {at})");
            int length = (data[at] << 8) | data[at + 1];
            if (length < 2 || at + length > data.Length)
                throw new InvalidInputException($"{where}: JPEG is truncated (segment 0x{marker:X2} of {length} bytes at byte {at} runs past the end)");
            if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) frame = true;
            at += length;
            if (marker != 0xDA) continue;
            if (!frame) throw new InvalidInputException($"{where}: JPEG scan comes before its frame header");
            scan = true;
            // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart marker.
            while (true)
            {
                int ff = data[at..].IndexOf((byte)0xFF);
                if (ff < 0 || at + ff + 1 >= data.Length)
                    throw new InvalidInputException($"{where}: JPEG is truncated (image data has no end marker)");
                at += ff;
                byte next = data[at + 1];
                if (next == 0x00 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF) { at += next == 0xFF ? 1 : 2; continue; }
                break;
            }
        }
    }
}
