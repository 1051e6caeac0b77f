using System.Text;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// Unicode NFC (canonical decomposition, canonical ordering, canonical composition) from generated tables.
/// The repository runs with InvariantGlobalization, where <see cref="string.Normalize()"/> leaves non-ASCII text
/// unchanged, so the tokenizer's NFC normalizer needs its own; it also keeps results independent of the ICU version.
/// </summary>
internal static class UnicodeNfc
{
    private const int HangulSBase = 0xAC00, HangulLBase = 0x1100, HangulVBase = 0x1161, HangulTBase = 0x11A7;
    private const int HangulLCount = 19, HangulVCount = 21, HangulTCount = 28;
    private const int HangulNCount = HangulVCount * HangulTCount, HangulSCount = HangulLCount * HangulNCount;

    private static readonly Dictionary<int, byte> CombiningClass = BuildClasses();
    private static readonly Dictionary<int, int[]> Decomposition = BuildDecompositions();
    private static readonly Dictionary<long, int> Composition = BuildCompositions();

    public static string UnicodeVersion => UnicodeNfcData.UnicodeVersion;

    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        // Below U+0300 nothing decomposes, combines or recomposes: most text leaves here untouched.
        bool simple = true;
        foreach (char c in text)
        {
            if (c >= 0x300) { simple = false; break; }
        }
        if (simple) return text;

        var points = new List<int>(text.Length);
        foreach (var rune in text.EnumerateRunes()) Decompose(rune.Value, points);
        Reorder(points);
        Compose(points);
        var builder = new StringBuilder(points.Count);
        foreach (int cp in points) builder.Append(char.ConvertFromUtf32(cp));
        return builder.ToString();
    }

    internal static int ClassOf(int codePoint) => CombiningClass.TryGetValue(codePoint, out var c) ? c : 0;

    private static void Decompose(int cp, List<int> output)
    {
        int s = cp - HangulSBase;
        if (s >= 0 && s < HangulSCount)
        {
            output.Add(HangulLBase + s / HangulNCount);
            output.Add(HangulVBase + s % HangulNCount / HangulTCount);
            if (s % HangulTCount != 0) output.Add(HangulTBase + s % HangulTCount);
            return;
        }
        if (Decomposition.TryGetValue(cp, out var full)) output.AddRange(full);
        else output.Add(cp);
    }

    // Stable sort of each run of non-starters by combining class (insertion sort: runs are short).
    private static void Reorder(List<int> points)
    {
        for (int i = 1; i < points.Count; i++)
        {
            int cc = ClassOf(points[i]);
            if (cc == 0) continue;
            int j = i;
            while (j > 0)
            {
                int prev = ClassOf(points[j - 1]);
                if (prev == 0 || prev <= cc) break;
                (points[j - 1], points[j]) = (points[j], points[j - 1]);
                j--;
            }
        }
    }

    private static void Compose(List<int> points)
    {
        int write = 0, starter = -1, lastClass = 0;
        for (int read = 0; read < points.Count; read++)
        {
            int cp = points[read];
            int cc = ClassOf(cp);
            if (starter >= 0)
            {
                // Not blocked: right after the starter, or every mark in between has a lower class.
                bool adjacent = write - 1 == starter;
                if ((adjacent || (lastClass != 0 && lastClass < cc)) && TryCompose(points[starter], cp, out int composite))
                {
                    points[starter] = composite;
                    continue;
                }
            }
            if (cc == 0)
            {
                starter = write;
                lastClass = 0;
            }
            else
            {
                lastClass = cc;
            }
            points[write++] = cp;
        }
        points.RemoveRange(write, points.Count - write);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        int l = first - HangulLBase, v = second - HangulVBase;
        if (l >= 0 && l < HangulLCount && v >= 0 && v < HangulVCount)
        {
            composite = HangulSBase + (l * HangulVCount + v) * HangulTCount;
            return true;
        }
        int s = first - HangulSBase, t = second - HangulTBase;
        if (s >= 0 && s < HangulSCount && s % HangulTCount == 0 && t > 0 && t < HangulTCount)
        {
            composite = first + t;
            return true;
        }
        return Composition.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static Dictionary<int, byte> BuildClasses()
    {
        var data = UnicodeNfcData.CombiningClasses;
        var map = new Dictionary<int, byte>(data.Length / 2);
        for (int i = 0; i < data.Length; i += 2) map[data[i]] = (byte)data[i + 1];
        return map;
    }

    private static Dictionary<int, int[]> BuildDecompositions()
    {
        var data = UnicodeNfcData.Decompositions;
        var map = new Dictionary<int, int[]>();
        for (int i = 0; i < data.Length;)
        {
            int cp = data[i], length = data[i + 1];
            map[cp] = data.AsSpan(i + 2, length).ToArray();
            i += 2 + length;
        }
        return map;
    }

    private static Dictionary<long, int> BuildCompositions()
    {
        var data = UnicodeNfcData.Compositions;
        var map = new Dictionary<long, int>(data.Length / 3);
        for (int i = 0; i < data.Length; i += 3) map[((long)data[i] << 21) | (uint)data[i + 1]] = data[i + 2];
        return map;
    }
}
