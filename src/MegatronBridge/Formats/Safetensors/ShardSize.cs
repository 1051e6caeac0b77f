using System.Globalization;
using MegatronBridge.IO;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>
/// Parses a maximum shard size. transformers 5 hands the string to huggingface_hub's <c>parse_size_to_int</c>:
/// a number (decimals allowed) followed by TB/GB/MB/KB in any case, powers of 10, truncated to whole bytes,
/// computed in double precision exactly as Python does. The binary units TiB/GiB/MiB/KiB (powers of 2, accepted by
/// transformers 4) and a bare whole number of bytes are accepted too.
/// </summary>
internal static class ShardSize
{
    /// <summary>save_pretrained's default max_shard_size in transformers 5 ("50GB").</summary>
    public const long TransformersDefault = 50_000_000_000L;

    private static readonly (string Unit, double Multiplier)[] Units =
    [
        ("TIB", 1099511627776d), ("GIB", 1073741824d), ("MIB", 1048576d), ("KIB", 1024d),
        ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3),
    ];

    public static long Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim();
        if (s.Length > 0 && s.All(char.IsAsciiDigit))
        {
            if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long plain) || plain <= 0)
                throw new InvalidInputException($"shard size '{text}' must be a positive number of bytes");
            return plain;
        }
        foreach (var (unit, multiplier) in Units)
        {
            if (!s.EndsWith(unit, StringComparison.OrdinalIgnoreCase)) continue;
            var number = s[..^unit.Length].Trim();
            if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value))
                throw new InvalidInputException($"shard size '{text}' does not start with a number");
            double bytes = Math.Floor(value * multiplier);
            if (bytes < 1) throw new InvalidInputException($"shard size '{text}' must be at least one byte");
            if (bytes >= long.MaxValue) throw new InvalidInputException($"shard size '{text}' is too large");
            return (long)bytes;
        }
        throw new InvalidInputException($"shard size '{text}' is not a number followed by a unit such as 5GB, 500MB or 2GiB");
    }
}
