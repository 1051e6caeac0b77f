using System.Globalization;
using System.Text;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>
/// The two JSON dialects whose exact bytes we reproduce: Rust serde_json (safetensors headers: compact, UTF-8 kept
/// as is) and Python json.dumps (index files: ensure_ascii, so every non-ASCII character becomes \uXXXX).
/// </summary>
internal static class JsonText
{
    /// <summary>A JSON string literal as serde_json writes it.</summary>
    public static void AppendSerdeString(StringBuilder sb, string value) => AppendString(sb, value, escapeNonAscii: false);

    /// <summary>A JSON string literal as Python's json.dumps writes it with ensure_ascii=True (the default).</summary>
    public static void AppendPythonAsciiString(StringBuilder sb, string value) => AppendString(sb, value, escapeNonAscii: true);

    /// <summary>
    /// Both dialects use the same short escapes; they differ only in whether characters above '~' are written as
    /// \uXXXX (Python: UTF-16 units, exactly its surrogate-pair escapes) or kept as they are (serde_json).
    /// </summary>
    private static void AppendString(StringBuilder sb, string value, bool escapeNonAscii)
    {
        sb.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || (escapeNonAscii && c > 0x7E)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>
    /// Code point order (= UTF-8 byte order), which Rust's String and Python's str sorting use; plain UTF-16 ordinal
    /// order differs from it for characters beyond the BMP.
    /// </summary>
    public static int CompareCodePoints(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            int ca = CodePointAt(a, ref i);
            int cb = CodePointAt(b, ref j);
            if (ca != cb) return ca.CompareTo(cb);
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }

    public static readonly Comparer<string> CodePointComparer = Comparer<string>.Create(CompareCodePoints);

    private static int CodePointAt(string s, ref int i)
    {
        char c = s[i++];
        if (char.IsHighSurrogate(c) && i < s.Length && char.IsLowSurrogate(s[i])) return char.ConvertToUtf32(c, s[i++]);
        return c;
    }

    public static byte[] Utf8(StringBuilder sb) => Encoding.UTF8.GetBytes(sb.ToString());
}
