using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// The pre-tokenizers byte-level BPE tokenizers ship in tokenizer.json: <c>ByteLevel</c> (GPT-2 split regex when
/// use_regex, optional prefix space, then byte-to-character mapping), <c>Split</c> (a regex, as Qwen uses) and
/// <c>Sequence</c>. Each turns a list of pieces into a finer list; the final pieces are byte-level strings.
/// </summary>
internal abstract class PreTokenizer
{
    /// <summary>GPT-2's split pattern, which ByteLevel uses when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public abstract IEnumerable<string> Split(string piece);

    /// <summary>Runs the pre-tokenizer on text; the result pieces are ready for BPE.</summary>
    public IReadOnlyList<string> Apply(string text)
    {
        var pieces = Split(text).Where(p => p.Length > 0).ToList();
        return EndsWithByteLevel ? pieces : pieces.Select(ByteLevelAlphabet.Encode).ToList();
    }

    /// <summary>Whether the chain includes the ByteLevel step, which maps to byte-level characters itself (else <see cref="Apply"/> does).</summary>
    protected internal virtual bool EndsWithByteLevel => false;

    public static PreTokenizer FromJson(JsonNode? node, string where)
    {
        if (node is null) return new ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: false);
        if (node is not JsonObject obj) throw new InvalidInputException($"{where}: pre_tokenizer must be an object");
        string type = Text(obj, "type", where) ?? throw new InvalidInputException($"{where}: pre_tokenizer has no \"type\"");
        return type switch
        {
            "ByteLevel" => new ByteLevelPreTokenizer(Flag(obj, "add_prefix_space", false), Flag(obj, "use_regex", true)),
            "Split" => SplitPreTokenizer.FromJson(obj, where),
            "Sequence" => new SequencePreTokenizer((obj["pretokenizers"] as JsonArray
                ?? throw new InvalidInputException($"{where}: Sequence pre_tokenizer has no \"pretokenizers\" list"))
                .Select((p, i) => FromJson(p, $"{where}: pretokenizers[{i}]")).ToList()),
            _ => throw new InvalidInputException($"{where}: pre_tokenizer type \"{type}\" is not supported (ByteLevel, Split, Sequence are)"),
        };
    }

    /// <summary>A string field, null when absent; InvalidInputException naming the field when it is not a string.</summary>
    internal static string? Text(JsonObject obj, string name, string where) => obj[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => v.GetValue<string>(),
        _ => throw new InvalidInputException($"{where}: \"{name}\" must be a string"),
    };

    internal static bool Flag(JsonObject obj, string name, bool fallback) =>
        obj[name] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : fallback;

    /// <summary>Cuts <paramref name="text"/> at the matches of <paramref name="regex"/>, keeping matches and gaps as pieces.</summary>
    internal static IEnumerable<string> Isolate(Regex regex, string text)
    {
        int at = 0;
        foreach (var (start, length) in AstralSafeRegex.Matches(regex, text))
        {
            if (length == 0) continue;
            if (start > at) yield return text[at..start];
            yield return text.Substring(start, length);
            at = start + length;
        }
        if (at < text.Length) yield return text[at..];
    }
}

internal sealed class ByteLevelPreTokenizer : PreTokenizer
{
    private static readonly Regex Gpt2 = new(Gpt2Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
    private readonly bool _addPrefixSpace;
    private readonly bool _useRegex;

    public ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex)
    {
        _addPrefixSpace = addPrefixSpace;
        _useRegex = useRegex;
    }

    protected internal override bool EndsWithByteLevel => true;

    public override IEnumerable<string> Split(string piece)
    {
        if (_addPrefixSpace && piece.Length > 0 && !char.IsWhiteSpace(piece[0])) piece = " " + piece;
        var parts = _useRegex ? Isolate(Gpt2, piece) : new[] { piece };
        return parts.Select(ByteLevelAlphabet.Encode);
    }
}

internal sealed class SplitPreTokenizer : PreTokenizer
{
    private enum SplitMode { MatchesAndGaps, MatchesOnly, GapsOnly }

    private readonly Regex _regex;
    private readonly SplitMode _mode;

    private SplitPreTokenizer(Regex regex, SplitMode mode)
    {
        _regex = regex;
        _mode = mode;
    }

    internal static SplitPreTokenizer FromJson(JsonObject obj, string where)
    {
        var pattern = obj["pattern"] as JsonObject ?? throw new InvalidInputException($"{where}: Split pre_tokenizer has no \"pattern\" object");
        Regex regex;
        if (Text(pattern, "Regex", where + ": Split pattern") is { } r) regex = Compile(r, where);
        else if (Text(pattern, "String", where + ": Split pattern") is { } s) regex = new Regex(Regex.Escape(s), RegexOptions.CultureInvariant);
        else throw new InvalidInputException($"{where}: Split pattern must hold \"Regex\" or \"String\"");
        bool invert = Flag(obj, "invert", false);
        string behavior = Text(obj, "behavior", where) ?? "Isolated";
        return behavior switch
        {
            // Isolated keeps matches and gaps as pieces either way; inverted, the matches are the content and the
            // gaps are what Removed drops (the GPT-4o-style files use that form).
            "Isolated" => new SplitPreTokenizer(regex, SplitMode.MatchesAndGaps),
            "Removed" => new SplitPreTokenizer(regex, invert ? SplitMode.MatchesOnly : SplitMode.GapsOnly),
            _ => throw new InvalidInputException($"{where}: Split behavior \"{behavior}\" is not supported (Isolated, Removed are)"),
        };
    }

    private static Regex Compile(string pattern, string where)
    {
        try
        {
            return new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (RegexParseException e)
        {
            throw new InvalidInputException($"{where}: Split regex does not compile ({e.Message})");
        }
    }

    public override IEnumerable<string> Split(string piece) => _mode switch
    {
        SplitMode.MatchesOnly => AstralSafeRegex.Matches(_regex, piece).Where(m => m.Length > 0).Select(m => piece.Substring(m.Start, m.Length)),
        SplitMode.GapsOnly => Gaps(piece),
        _ => Isolate(_regex, piece),
    };

    private IEnumerable<string> Gaps(string piece)
    {
        int at = 0;
        foreach (var (start, length) in AstralSafeRegex.Matches(_regex, piece))
        {
            if (length == 0) continue;
            if (start > at) yield return piece[at..start];
            at = start + length;
        }
        if (at < piece.Length) yield return piece[at..];
    }
}

internal sealed class SequencePreTokenizer : PreTokenizer
{
    private readonly IReadOnlyList<PreTokenizer> _steps;

    public SequencePreTokenizer(IReadOnlyList<PreTokenizer> steps) => _steps = steps;

    protected internal override bool EndsWithByteLevel => _steps.Any(s => s.EndsWithByteLevel);

    public override IEnumerable<string> Split(string piece)
    {
        IEnumerable<string> pieces = new[] { piece };
        foreach (var step in _steps) pieces = pieces.SelectMany(step.Split).Where(p => p.Length > 0).ToList();
        return pieces;
    }
}
