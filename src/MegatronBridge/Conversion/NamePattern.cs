namespace MegatronBridge.Conversion;

/// <summary>
/// A parameter-name pattern of the mapping tables (as Megatron-Bridge's mapping registry reads them): <c>*</c> matches
/// digits, <c>**</c> matches anything, anchored at both ends. Captures fill the other side's wildcards left to right,
/// <c>**</c> from <c>**</c> captures and <c>*</c> from <c>*</c> captures; extra captures are ignored (packed experts
/// name fewer wildcards on the HF side). Matched by hand rather than by regex: a real model resolves tens of thousands
/// of names against every row.
/// </summary>
internal sealed class NamePattern
{
    private readonly string[] _literals; // literal i comes before wildcard i; one more literal than wildcards
    private readonly bool[] _isDouble;
    private readonly int _minLength;

    public NamePattern(string pattern)
    {
        Text = pattern;
        var literals = new List<string>();
        var kinds = new List<bool>();
        int start = 0;
        for (int i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] != '*') continue;
            bool isDouble = i + 1 < pattern.Length && pattern[i + 1] == '*';
            literals.Add(pattern[start..i]);
            kinds.Add(isDouble);
            if (isDouble) i++;
            if (i + 1 < pattern.Length && pattern[i + 1] == '*')
                throw new ArgumentException($"pattern '{pattern}': wildcards must be separated by text");
            start = i + 1;
        }
        literals.Add(pattern[start..]);
        _literals = literals.ToArray();
        _isDouble = kinds.ToArray();
        _minLength = literals.Sum(l => l.Length) + kinds.Count(d => !d);
    }

    public string Text { get; }

    public bool TryMatch(string name, out NameCaptures captures)
    {
        // Most rows fail on their first or last literal: check those before any work.
        if (name.Length < _minLength || !name.StartsWith(_literals[0], StringComparison.Ordinal) || !name.EndsWith(_literals[^1], StringComparison.Ordinal))
        {
            captures = NameCaptures.Empty;
            return false;
        }
        var spans = new (int Start, int Length)[_isDouble.Length];
        if (!MatchFrom(name, _literals[0].Length, 0, spans))
        {
            captures = NameCaptures.Empty;
            return false;
        }
        var singles = new List<string>();
        var doubles = new List<string>();
        for (int w = 0; w < spans.Length; w++) (_isDouble[w] ? doubles : singles).Add(name.Substring(spans[w].Start, spans[w].Length));
        captures = new NameCaptures(singles, doubles);
        return true;
    }

    /// <summary>Matches wildcard <paramref name="w"/> and everything after it, starting at <paramref name="pos"/>.</summary>
    private bool MatchFrom(string name, int pos, int w, (int, int)[] spans)
    {
        if (w == _isDouble.Length) return pos == name.Length;
        string next = _literals[w + 1];
        int maxEnd = name.Length - next.Length;
        if (_isDouble[w])
        {
            for (int end = pos; end <= maxEnd; end++)
            {
                if (string.CompareOrdinal(name, end, next, 0, next.Length) == 0 && MatchFrom(name, end + next.Length, w + 1, spans))
                {
                    spans[w] = (pos, end - pos);
                    return true;
                }
            }
            return false;
        }
        for (int end = pos; end < name.Length && char.IsAsciiDigit(name[end]); )
        {
            end++;
            if (end <= maxEnd && string.CompareOrdinal(name, end, next, 0, next.Length) == 0 && MatchFrom(name, end + next.Length, w + 1, spans))
            {
                spans[w] = (pos, end - pos);
                return true;
            }
        }
        return false;
    }

    public override string ToString() => Text;
}

/// <summary>What a pattern's wildcards matched: digit groups (<c>*</c>) and free groups (<c>**</c>), in order.</summary>
internal sealed record NameCaptures(IReadOnlyList<string> Singles, IReadOnlyList<string> Doubles)
{
    public static NameCaptures Empty { get; } = new(Array.Empty<string>(), Array.Empty<string>());

    /// <summary>The value of <c>*</c> number <paramref name="index"/> (0-based) as an integer.</summary>
    public int Number(int index) => int.Parse(Singles[index], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The last <c>*</c> capture as an integer (the expert index of expert patterns).</summary>
    public int LastNumber => Singles.Count > 0 ? Number(Singles.Count - 1) : throw new InvalidOperationException("the pattern has no * wildcard");

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
