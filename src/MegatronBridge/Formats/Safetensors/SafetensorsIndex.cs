using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using MegatronBridge.IO;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>
/// model.safetensors.index.json: which shard file holds each tensor. Reading validates the JSON shape, rejects
/// duplicate tensor names and shard names that are not plain file names in the same folder.
/// </summary>
internal sealed class SafetensorsIndex
{
    /// <summary>Real indexes are a few MB even for the largest models; anything far bigger is not an index.</summary>
    public const long MaxIndexBytes = 256L << 20;

    private readonly Dictionary<string, string> _shardOf;

    private SafetensorsIndex(string path, List<KeyValuePair<string, string>> weightMap, long? totalSize)
    {
        Path = path;
        WeightMap = weightMap;
        TotalSize = totalSize;
        _shardOf = new Dictionary<string, string>(weightMap, StringComparer.Ordinal);
        var shards = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, shard) in weightMap) if (seen.Add(shard)) shards.Add(shard);
        Shards = shards;
    }

    public string Path { get; }
    /// <summary>Tensor name -> shard file name, in the order of the file.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> WeightMap { get; }
    /// <summary>Distinct shard file names in first-appearance order.</summary>
    public IReadOnlyList<string> Shards { get; }
    /// <summary>metadata.total_size when present (informative only: real indexes are not always exact).</summary>
    public long? TotalSize { get; }
    public IReadOnlyDictionary<string, string> ShardOf => _shardOf;

    public static SafetensorsIndex Read(string indexPath)
    {
        long length = new FileInfo(indexPath).Length;
        if (length > MaxIndexBytes)
            throw new InvalidInputException($"{indexPath}: {length} bytes is too large for an index (limit {MaxIndexBytes})");
        MegatronBridge.IO.InputFile.EnsureRegular(indexPath);
        var bytes = File.ReadAllBytes(indexPath);
        if (!Utf8.IsValid(bytes))
            throw new InvalidInputException($"{indexPath}: not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{indexPath}: not valid JSON ({e.Message})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidInputException($"{indexPath}: not a JSON object");
            JsonElement? map = null;
            long? totalSize = null;
            foreach (var p in root.EnumerateObject())
            {
                if (p.Name == "weight_map")
                {
                    if (map.HasValue) throw new InvalidInputException($"{indexPath}: weight_map appears twice");
                    map = p.Value;
                }
                else if (p.Name == "metadata")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object)
                        throw new InvalidInputException($"{indexPath}: metadata is not an object");
                    if (p.Value.TryGetProperty("total_size", out var ts) && ts.ValueKind == JsonValueKind.Number && ts.TryGetInt64(out var n))
                        totalSize = n;
                }
            }
            if (map is not { ValueKind: JsonValueKind.Object } weightMap)
                throw new InvalidInputException($"{indexPath}: missing weight_map object");

            var entries = new List<KeyValuePair<string, string>>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in weightMap.EnumerateObject())
            {
                if (!names.Add(p.Name))
                    throw new InvalidInputException($"{indexPath}: weight_map names tensor '{p.Name}' twice");
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidInputException($"{indexPath}: weight_map entry for tensor '{p.Name}' is not a file name string");
                var shard = p.Value.GetString()!;
                if (!IsPlainFileName(shard))
                    throw new InvalidInputException($"{indexPath}: shard name '{shard}' (for tensor '{p.Name}') is not a plain file name inside the folder");
                entries.Add(new(p.Name, shard));
            }
            if (entries.Count == 0)
                throw new InvalidInputException($"{indexPath}: weight_map lists no tensors");
            return new SafetensorsIndex(indexPath, entries, totalSize);
        }
    }

    /// <summary>A bare file name: no directory part, not absolute, not "." or "..".</summary>
    public static bool IsPlainFileName(string name) =>
        name.Length > 0 && name != "." && name != ".." && name.Trim().Length > 0
        && name.IndexOfAny(['/', '\\', '\0']) < 0 && !System.IO.Path.IsPathRooted(name);

    /// <summary>
    /// The index file as transformers writes it: <c>json.dumps(index, indent=2, sort_keys=True) + "\n"</c> with
    /// <c>{"metadata": {"total_parameters": P, "total_size": S}, "weight_map": {...}}</c>.
    /// </summary>
    /// <param name="totalParameters">Written when not null (transformers 4.56 and later write it).</param>
    public static byte[] Format(IEnumerable<KeyValuePair<string, string>> weightMap, long totalSize, long? totalParameters)
    {
        var sorted = weightMap.ToList();
        sorted.Sort((a, b) => JsonText.CompareCodePoints(a.Key, b.Key));
        var sb = new StringBuilder();
        sb.Append("{\n  \"metadata\": {\n");
        if (totalParameters.HasValue)
            sb.Append("    \"total_parameters\": ").Append(totalParameters.Value.ToString(CultureInfo.InvariantCulture)).Append(",\n");
        sb.Append("    \"total_size\": ").Append(totalSize.ToString(CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("  },\n  \"weight_map\": {");
        for (int i = 0; i < sorted.Count; i++)
        {
            sb.Append(i == 0 ? "\n    " : ",\n    ");
            JsonText.AppendPythonAsciiString(sb, sorted[i].Key);
            sb.Append(": ");
            JsonText.AppendPythonAsciiString(sb, sorted[i].Value);
        }
        sb.Append(sorted.Count == 0 ? "}\n}\n" : "\n  }\n}\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }
}
