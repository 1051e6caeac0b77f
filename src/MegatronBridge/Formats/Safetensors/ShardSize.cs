using System.Globalization;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>
/// Parses a maximum shard size the way transformers' <c>convert_file_size_to_int</c> does: an integer followed by
/// GiB/MiB/KiB (powers of 2) or GB/MB/KB (powers of 10), units case-insensitive; a final lower-case "b" ("5Gb")
/// means bits, so the value is divided by 8. A bare integer is a byte count.
/// </summary>
public static class ShardSize
{
    private static readonly (string Unit, long Multiplier, bool Decimal)[] Units =
    [
        ("TIB", 1L << 40, false), ("GIB", 1L << 30, false), ("MIB", 1L << 20, false), ("KIB", 1L << 10, false),
        ("TB", 1_000_000_000_000L, true), ("GB", 1_000_000_000L, true), ("MB", 1_000_000L, true), ("KB", 1_000L, true),
    ];

    public static long Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim();
        foreach (var (unit, multiplier, isDecimal) in Units)
        {
            if (!s.EndsWith(unit, StringComparison.OrdinalIgnoreCase)) continue;
            long value = ParseCount(text, s[..^unit.Length]);
            long bytes;
            try
            {
                bytes = checked(value * multiplier);
            }
            catch (OverflowException)
            {
                throw new FormatException($"shard size '{text}' is too large");
            }
            return isDecimal && s.EndsWith('b') ? bytes / 8 : bytes;
        }
        if (s.Length > 0 && s.All(char.IsAsciiDigit)) return ParseCount(text, s);
        throw new FormatException($"shard size '{text}' is not an integer followed by a unit such as 5GB, 500MB or 2GiB");
    }

    private static long ParseCount(string text, string digits)
    {
        digits = digits.Trim();
        if (digits.Length == 0 || !digits.All(char.IsAsciiDigit)
            || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            throw new FormatException($"shard size '{text}' does not start with a whole number");
        if (value <= 0) throw new FormatException($"shard size '{text}' must be positive");
        return value;
    }
}
