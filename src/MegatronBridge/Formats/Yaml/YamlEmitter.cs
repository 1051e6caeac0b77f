using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MegatronBridge.Formats.Yaml;

/// <summary>
/// Writes a JSON tree as block-style YAML that PyYAML's <c>safe_load</c> (YAML 1.1) reads back as the same values:
/// objects as mappings, arrays of scalars as flow sequences, strings always double-quoted (JSON escapes are valid
/// YAML escapes), floats (values made from a double, or JSON numbers with a point or exponent) always with a decimal point and a signed exponent (PyYAML resolves <c>1e-06</c> as a
/// string), integers, booleans and null plain. Empty objects and arrays are written as <c>{}</c> and <c>[]</c>.
/// </summary>
internal static class YamlEmitter
{
    public static string Write(JsonObject root)
    {
        var sb = new StringBuilder();
        WriteMapping(sb, root, 0);
        return sb.ToString();
    }

    private static void WriteMapping(StringBuilder sb, JsonObject map, int indent)
    {
        foreach (var (key, value) in map)
        {
            sb.Append(' ', indent).Append(Key(key)).Append(':');
            WriteValue(sb, value, indent);
        }
    }

    /// <summary>Writes what follows "key:" (or "-"): a scalar on the same line, or a nested block on the next lines.</summary>
    private static void WriteValue(StringBuilder sb, JsonNode? value, int indent)
    {
        switch (value)
        {
            case JsonObject { Count: > 0 } obj:
                sb.Append('\n');
                WriteMapping(sb, obj, indent + 2);
                break;
            case JsonObject:
                sb.Append(" {}\n");
                break;
            case JsonArray array when array.All(e => e is not JsonObject and not JsonArray):
                sb.Append(" [").Append(string.Join(", ", array.Select(Scalar))).Append("]\n");
                break;
            case JsonArray array:
                sb.Append('\n');
                foreach (var element in array)
                {
                    sb.Append(' ', indent + 2).Append('-');
                    WriteValue(sb, element, indent + 2);
                }
                break;
            default:
                sb.Append(' ').Append(Scalar(value)).Append('\n');
                break;
        }
    }

    private static string Key(string key) =>
        key.Length > 0 && (char.IsAsciiLetter(key[0]) || key[0] == '_') && key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
        && !IsReserved(key)
            ? key
            : Quote(key);

    /// <summary>Plain words PyYAML would read as booleans or null.</summary>
    private static bool IsReserved(string word) => word.ToLowerInvariant() is "y" or "n" or "yes" or "no" or "true" or "false" or "on" or "off" or "null";

    private static string Scalar(JsonNode? node)
    {
        if (node is null) return "null";
        var value = node.AsValue();
        switch (value.GetValueKind())
        {
            case JsonValueKind.String: return Quote(value.GetValue<string>());
            case JsonValueKind.True: return "true";
            case JsonValueKind.False: return "false";
            case JsonValueKind.Null: return "null";
            case JsonValueKind.Number:
                // A value made from a double is a float even when whole (0.0); parsed JSON keeps its own spelling.
                if (value.GetValue<object>() is double or float) return Float(value.GetValue<double>());
                var text = value.ToJsonString();
                return text.IndexOfAny(['.', 'e', 'E']) >= 0 ? Float(double.Parse(text, CultureInfo.InvariantCulture)) : text;
            default:
                throw new ArgumentException($"not a YAML scalar: {node.ToJsonString()}");
        }
    }

    /// <summary>A float PyYAML resolves as one: digits, '.', digits, and an exponent with its sign.</summary>
    internal static string Float(double d)
    {
        if (double.IsNaN(d)) return ".nan";
        if (double.IsPositiveInfinity(d)) return ".inf";
        if (double.IsNegativeInfinity(d)) return "-.inf";
        var text = d.ToString("R", CultureInfo.InvariantCulture);
        int e = text.IndexOfAny(['E', 'e']);
        string mantissa = e < 0 ? text : text[..e];
        string exponent = e < 0 ? "" : text[(e + 1)..];
        if (!mantissa.Contains('.')) mantissa += ".0";
        if (exponent.Length == 0) return mantissa;
        if (exponent[0] is not ('+' or '-')) exponent = "+" + exponent;
        return mantissa + "e" + exponent;
    }

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Quote(string s) => JsonSerializer.Serialize(s, Relaxed);
}
