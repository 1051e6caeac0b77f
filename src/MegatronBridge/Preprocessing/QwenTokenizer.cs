using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// A byte-level BPE tokenizer read from a Hugging Face tokenizer.json, as Qwen ships it: added tokens are cut out
/// first, the rest is normalised (none or NFC), pre-tokenised (regex split + byte-to-character mapping),
/// and each piece is BPE-merged by rank. Decoding maps the characters back to bytes and reads them as UTF-8.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers 2.0.1 has no tokenizer.json loader (its BPE wants vocab.json + merges.txt) and pulls
/// Google.Protobuf with a restore warning, so this small reader does the whole job; it supports what Qwen-family
/// and GPT-2-style files use and rejects anything else with a message naming the field.
/// </remarks>
internal sealed class QwenTokenizer
{
    private readonly BytePairModel _model;
    private readonly PreTokenizer _preTokenizer;
    private readonly bool _nfc;
    private readonly Regex? _addedTokenPattern;
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly Dictionary<int, AddedToken> _addedById;

    private QwenTokenizer(BytePairModel model, PreTokenizer preTokenizer, bool nfc, IReadOnlyList<AddedToken> added)
    {
        _model = model;
        _preTokenizer = preTokenizer;
        _nfc = nfc;
        AddedTokens = added;
        _addedByContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        _addedById = new Dictionary<int, AddedToken>();
        foreach (var token in added)
        {
            _addedByContent.TryAdd(token.Content, token);
            _addedById.TryAdd(token.Id, token);
        }
        // Longest first, so that a token that is a prefix of another never wins at the same position.
        var alternatives = added.Select(t => t.Content).Where(c => c.Length > 0).Distinct()
            .OrderByDescending(c => c.Length).Select(Regex.Escape).ToList();
        _addedTokenPattern = alternatives.Count == 0 ? null : new Regex(string.Join("|", alternatives), RegexOptions.CultureInvariant);
        VocabSize = Math.Max(model.Vocab.Count == 0 ? 0 : model.Vocab.Values.Max() + 1, added.Count == 0 ? 0 : added.Max(t => t.Id) + 1);
    }

    public IReadOnlyList<AddedToken> AddedTokens { get; }
    /// <summary>One past the largest id (vocabulary and added tokens).</summary>
    public int VocabSize { get; }

    public static QwenTokenizer FromFolder(string folder) => Load(Path.Combine(folder, "tokenizer.json"));

    public static QwenTokenizer Load(string tokenizerJsonPath)
    {
        if (!File.Exists(tokenizerJsonPath)) throw new FileNotFoundException($"{tokenizerJsonPath}: tokenizer.json not found", tokenizerJsonPath);
        MegatronBridge.IO.InputFile.EnsureRegular(tokenizerJsonPath);
        return Parse(File.ReadAllText(tokenizerJsonPath), tokenizerJsonPath);
    }

    public static QwenTokenizer Parse(string json, string where)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{where}: not valid JSON ({e.Message})");
        }
        if (node is not JsonObject root) throw new InvalidInputException($"{where}: not a JSON object");
        var modelJson = root["model"] as JsonObject ?? throw new InvalidInputException($"{where}: has no \"model\" object");
        var model = BytePairModel.FromJson(modelJson, where);
        var preTokenizer = PreTokenizer.FromJson(root["pre_tokenizer"], where);
        bool nfc = ReadNormalizer(root["normalizer"], where);
        CheckDecoder(root["decoder"], where);
        var added = ReadAddedTokens(root["added_tokens"], where);
        return new QwenTokenizer(model, preTokenizer, nfc, added);
    }

    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var added) ? added.Id : _model.Vocab.TryGetValue(token, out var id) ? id : null;

    public string? IdToToken(int id) =>
        _addedById.TryGetValue(id, out var added) ? added.Content : _model.IdToToken.TryGetValue(id, out var token) ? token : null;

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        foreach (var (segment, token) in SplitOnAddedTokens(text))
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                continue;
            }
            var normalized = _nfc ? UnicodeNfc.Normalize(segment) : segment;
            foreach (var piece in _preTokenizer.Apply(normalized)) ids.AddRange(_model.EncodePiece(piece));
        }
        return ids.ToArray();
    }

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var bytes = new List<byte>();
        void FlushBytes()
        {
            // Invalid UTF-8 (a token sequence cut inside a character) becomes U+FFFD, as tokenizers' decoder does.
            text.Append(Encoding.UTF8.GetString(bytes.ToArray()));
            bytes.Clear();
        }
        foreach (var id in ids)
        {
            if (_addedById.TryGetValue(id, out var added))
            {
                if (skipSpecialTokens && added.Special) continue;
                FlushBytes();
                text.Append(added.Content);
                continue;
            }
            if (!_model.IdToToken.TryGetValue(id, out var token))
                throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is not in the vocabulary (size {VocabSize})");
            foreach (var c in token)
            {
                if (!ByteLevelAlphabet.TryToByte(c, out var b))
                    throw new InvalidInputException($"token {id} \"{token}\" holds '{c}', which is not a byte-level character");
                bytes.Add(b);
            }
        }
        FlushBytes();
        return text.ToString();
    }

    /// <summary>The text cut into plain segments and added-token matches, in order.</summary>
    private IEnumerable<(string Segment, AddedToken? Token)> SplitOnAddedTokens(string text)
    {
        if (_addedTokenPattern is null)
        {
            yield return (text, null);
            yield break;
        }
        int at = 0;
        foreach (Match m in _addedTokenPattern.Matches(text))
        {
            if (m.Index < at) continue; // inside whitespace an rstrip token already absorbed
            var token = _addedByContent[m.Value];
            string before = text[at..m.Index];
            if (token.LStrip) before = before.TrimEnd();
            if (before.Length > 0) yield return (before, null);
            yield return (m.Value, token);
            at = m.Index + m.Length;
            if (token.RStrip)
                while (at < text.Length && char.IsWhiteSpace(text[at])) at++;
        }
        if (at < text.Length) yield return (text[at..], null);
    }

    // Qwen ships NFC; other Unicode forms are rejected rather than run through string.Normalize, which does nothing
    // to non-ASCII text under InvariantGlobalization.
    private static bool ReadNormalizer(JsonNode? node, string where)
    {
        if (node is null) return false;
        if (node is not JsonObject obj) throw new InvalidInputException($"{where}: normalizer must be an object or null");
        string type = PreTokenizer.Text(obj, "type", where + ": normalizer") ?? throw new InvalidInputException($"{where}: normalizer has no \"type\"");
        switch (type)
        {
            case "NFC": return true;
            case "Sequence":
                var steps = (obj["normalizers"] as JsonArray ?? throw new InvalidInputException($"{where}: Sequence normalizer has no \"normalizers\" list"))
                    .Select((n, i) => ReadNormalizer(n, $"{where}: normalizers[{i}]")).ToList();
                return steps.Any(nfc => nfc);
            default:
                throw new InvalidInputException($"{where}: normalizer type \"{type}\" is not supported (NFC and Sequence are)");
        }
    }

    private static void CheckDecoder(JsonNode? node, string where)
    {
        if (node is null) return;
        string? type = node is JsonObject obj ? PreTokenizer.Text(obj, "type", where + ": decoder") : null;
        if (type != "ByteLevel")
            throw new InvalidInputException($"{where}: decoder type \"{type}\" is not supported (only ByteLevel)");
    }

    private static List<AddedToken> ReadAddedTokens(JsonNode? node, string where)
    {
        var tokens = new List<AddedToken>();
        if (node is null) return tokens;
        if (node is not JsonArray array) throw new InvalidInputException($"{where}: added_tokens must be a list");
        for (int i = 0; i < array.Count; i++)
        {
            string at = $"{where}: added_tokens[{i}]";
            if (array[i] is not JsonObject t) throw new InvalidInputException($"{at} is not an object");
            if (t["id"] is not JsonValue idValue || idValue.GetValueKind() != JsonValueKind.Number || !idValue.TryGetValue<int>(out var id) || id < 0)
                throw new InvalidInputException($"{at}.id is not a non-negative integer");
            if (t["content"] is not JsonValue contentValue || contentValue.GetValueKind() != JsonValueKind.String)
                throw new InvalidInputException($"{at}.content is not a string");
            tokens.Add(new AddedToken(id, contentValue.GetValue<string>(),
                PreTokenizer.Flag(t, "special", false), PreTokenizer.Flag(t, "lstrip", false),
                PreTokenizer.Flag(t, "rstrip", false), PreTokenizer.Flag(t, "single_word", false)));
        }
        return tokens;
    }
}
