using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// The <c>model</c> of a byte-level BPE tokenizer.json: vocabulary (token string to id) and merges by rank.
/// A piece is split into its characters, then the adjacent pair with the lowest merge rank is merged, leftmost
/// first, until no pair has a rank; the resulting symbols are looked up in the vocabulary.
/// </summary>
internal sealed class BytePairModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<(string Left, string Right), int> _ranks;
    private readonly bool _ignoreMerges;
    private readonly Dictionary<int, string> _idToToken = new();
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    private BytePairModel(Dictionary<string, int> vocab, Dictionary<(string, string), int> ranks, bool ignoreMerges)
    {
        _vocab = vocab;
        _ranks = ranks;
        _ignoreMerges = ignoreMerges;
        foreach (var (token, id) in vocab) _idToToken.TryAdd(id, token);
    }

    public IReadOnlyDictionary<string, int> Vocab => _vocab;
    public IReadOnlyDictionary<int, string> IdToToken => _idToToken;

    public static BytePairModel FromJson(JsonObject model, string where)
    {
        string type = PreTokenizer.Text(model, "type", where + ": model") ?? "BPE";
        if (type != "BPE") throw new InvalidInputException($"{where}: model type \"{type}\" is not supported (only byte-level BPE)");
        if (PreTokenizer.Text(model, "continuing_subword_prefix", where + ": model") is { Length: > 0 })
            throw new InvalidInputException($"{where}: model.continuing_subword_prefix is not supported for byte-level BPE");
        if (PreTokenizer.Text(model, "end_of_word_suffix", where + ": model") is { Length: > 0 })
            throw new InvalidInputException($"{where}: model.end_of_word_suffix is not supported for byte-level BPE");

        var vocabJson = model["vocab"] as JsonObject ?? throw new InvalidInputException($"{where}: model.vocab is missing or not an object");
        var vocab = new Dictionary<string, int>(vocabJson.Count, StringComparer.Ordinal);
        foreach (var (token, idNode) in vocabJson)
        {
            if (idNode is not JsonValue v || v.GetValueKind() != JsonValueKind.Number || !v.TryGetValue<int>(out var id) || id < 0)
                throw new InvalidInputException($"{where}: model.vocab[\"{token}\"] is not a non-negative integer id");
            vocab[token] = id;
        }

        var mergesJson = model["merges"] as JsonArray ?? throw new InvalidInputException($"{where}: model.merges is missing or not a list");
        var ranks = new Dictionary<(string, string), int>(mergesJson.Count);
        for (int rank = 0; rank < mergesJson.Count; rank++)
        {
            var (left, right) = ReadMerge(mergesJson[rank], $"{where}: model.merges[{rank}]");
            if (!vocab.ContainsKey(left + right))
                throw new InvalidInputException($"{where}: model.merges[{rank}] produces \"{left + right}\", which is not in the vocabulary");
            ranks.TryAdd((left, right), rank); // a repeated merge keeps its first (lowest) rank
        }
        bool ignoreMerges = model["ignore_merges"] is JsonValue im && im.TryGetValue<bool>(out var b) && b;
        return new BytePairModel(vocab, ranks, ignoreMerges);
    }

    // Merges are "left right" strings (older files) or ["left", "right"] pairs (tokenizers >= 0.20).
    private static (string, string) ReadMerge(JsonNode? node, string where)
    {
        if (node is JsonArray pair && pair.Count == 2 && pair[0] is JsonValue a && pair[1] is JsonValue b
            && a.GetValueKind() == JsonValueKind.String && b.GetValueKind() == JsonValueKind.String)
            return (a.GetValue<string>(), b.GetValue<string>());
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String)
        {
            var text = v.GetValue<string>();
            int space = text.IndexOf(' ', 1);
            if (space > 0 && space < text.Length - 1 && text.IndexOf(' ', space + 1) < 0) return (text[..space], text[(space + 1)..]);
        }
        throw new InvalidInputException($"{where}: a merge must be \"left right\" or [\"left\", \"right\"]");
    }

    /// <summary>Token ids of one byte-level piece (already mapped through <see cref="ByteLevelAlphabet"/>).</summary>
    public int[] EncodePiece(string piece)
    {
        if (_cache.TryGetValue(piece, out var cached)) return cached;
        int[] ids;
        if (_ignoreMerges && _vocab.TryGetValue(piece, out var whole)) ids = new[] { whole };
        else ids = Merge(piece).Select(symbol => _vocab.TryGetValue(symbol, out var id)
            ? id
            : throw new InvalidInputException($"byte-level symbol \"{symbol}\" (of \"{piece}\") is not in the vocabulary")).ToArray();
        if (_cache.Count < 100_000) _cache[piece] = ids;
        return ids;
    }

    private List<string> Merge(string piece)
    {
        var symbols = new List<string>(piece.Length);
        for (int i = 0; i < piece.Length; i++)
        {
            // A surrogate pair is one character to BPE (byte-level pieces never contain one; stay safe anyway).
            int length = char.IsHighSurrogate(piece[i]) && i + 1 < piece.Length ? 2 : 1;
            symbols.Add(piece.Substring(i, length));
            i += length - 1;
        }
        while (symbols.Count > 1)
        {
            int bestRank = int.MaxValue, bestAt = -1;
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out var rank) && rank < bestRank)
                {
                    bestRank = rank;
                    bestAt = i;
                }
            }
            if (bestAt < 0) break;
            symbols[bestAt] += symbols[bestAt + 1];
            symbols.RemoveAt(bestAt + 1);
        }
        return symbols;
    }
}
