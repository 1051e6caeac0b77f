using System.Text.RegularExpressions;

namespace MegatronBridge.Conversion;

/// <summary>
/// A parameter-name pattern of the mapping tables (spec §3.0): <c>*</c> matches digits, <c>**</c> matches anything,
/// anchored at both ends. Captures fill the other side's wildcards left to right, <c>**</c> from <c>**</c> captures and
/// <c>*</c> from <c>*</c> captures; extra captures are ignored (packed experts name fewer wildcards on the HF side).
/// </summary>
public sealed class NamePattern
{
    private readonly Regex _regex;
    private readonly bool[] _isDouble;

    public NamePattern(string pattern)
    {
        Text = pattern;
        var kinds = new List<bool>();
        var regex = new System.Text.StringBuilder("^");
        for (int i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] != '*')
            {
                regex.Append(Regex.Escape(pattern[i].ToString()));
                continue;
            }
            bool isDouble = i + 1 < pattern.Length && pattern[i + 1] == '*';
            regex.Append(isDouble ? "(.*)" : @"(\d+)");
            kinds.Add(isDouble);
            if (isDouble) i++;
        }
        regex.Append('$');
        _regex = new Regex(regex.ToString(), RegexOptions.CultureInvariant);
        _isDouble = kinds.ToArray();
    }

    public string Text { get; }

    public bool TryMatch(string name, out NameCaptures captures)
    {
        var m = _regex.Match(name);
        if (!m.Success)
        {
            captures = NameCaptures.Empty;
            return false;
        }
        var singles = new List<string>();
        var doubles = new List<string>();
        for (int g = 0; g < _isDouble.Length; g++) (_isDouble[g] ? doubles : singles).Add(m.Groups[g + 1].Value);
        captures = new NameCaptures(singles, doubles);
        return true;
    }

    public override string ToString() => Text;
}

/// <summary>What a pattern's wildcards matched: digit groups (<c>*</c>) and free groups (<c>**</c>), in order.</summary>
public sealed record NameCaptures(IReadOnlyList<string> Singles, IReadOnlyList<string> Doubles)
{
    public static NameCaptures Empty { get; } = new(Array.Empty<string>(), Array.Empty<string>());

    /// <summary>The value of <c>*</c> number <paramref name="index"/> (0-based) as an integer.</summary>
    public int Number(int index) => int.Parse(Singles[index], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The last <c>*</c> capture as an integer (the expert index of expert patterns).</summary>
    public int LastNumber => Number(Singles.Count - 1);

    /// <summary>Fills the wildcards of <paramref name="pattern"/>.</summary>
    public string Fill(string pattern)
    {
        var result = new System.Text.StringBuilder();
        int single = 0, dbl = 0;
        for (int i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] != '*')
            {
                result.Append(pattern[i]);
                continue;
            }
            bool isDouble = i + 1 < pattern.Length && pattern[i + 1] == '*';
            if (isDouble)
            {
                i++;
                result.Append(dbl < Doubles.Count ? Doubles[dbl++] : throw new InvalidOperationException($"pattern '{pattern}' has more ** than were captured"));
            }
            else
            {
                result.Append(single < Singles.Count ? Singles[single++] : throw new InvalidOperationException($"pattern '{pattern}' has more * than were captured"));
            }
        }
        return result.ToString();
    }
}
