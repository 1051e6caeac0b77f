using System.Text.Json;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>
/// A Hugging Face checkpoint folder: one model.safetensors, or shards listed by model.safetensors.index.json.
/// Presents all tensors as one <see cref="ITensorSource"/>.
/// </summary>
public sealed class SafetensorsCheckpoint : ITensorSource, IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, (SafetensorsFile File, SafetensorsEntry Entry)> _byName = new(StringComparer.Ordinal);
    private readonly List<TensorMeta> _tensors = new();

    private SafetensorsCheckpoint(string folder, List<SafetensorsFile> files)
    {
        Description = folder;
        _files = files;
        foreach (var f in files)
        {
            foreach (var e in f.Entries)
            {
                if (_byName.ContainsKey(e.Meta.Name))
                    throw new InvalidDataException($"{f.Path}: tensor '{e.Meta.Name}' also appears in {_byName[e.Meta.Name].File.Path}");
                _byName[e.Meta.Name] = (f, e);
                _tensors.Add(e.Meta);
            }
        }
    }

    public string Description { get; }
    public IReadOnlyList<TensorMeta> Tensors => _tensors;
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>The shard file name holding each tensor (for writing back the same layout).</summary>
    public string FileOf(string tensorName) => System.IO.Path.GetFileName(_byName[tensorName].File.Path);

    public static SafetensorsCheckpoint Open(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such folder");
        var index = System.IO.Path.Combine(folder, IndexFileName);
        var single = System.IO.Path.Combine(folder, SingleFileName);
        var files = new List<SafetensorsFile>();
        try
        {
            if (File.Exists(index))
            {
                foreach (var shard in ReadIndexShards(index)) files.Add(SafetensorsFile.Open(System.IO.Path.Combine(folder, shard)));
            }
            else if (File.Exists(single))
            {
                files.Add(SafetensorsFile.Open(single));
            }
            else
            {
                throw new FileNotFoundException($"{folder}: neither {SingleFileName} nor {IndexFileName} found");
            }
            return new SafetensorsCheckpoint(folder, files);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>Distinct shard names of an index, in first-appearance order, each checked to stay inside the folder.</summary>
    public static List<string> ReadIndexShards(string indexPath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{indexPath}: not valid JSON ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{indexPath}: missing weight_map object");
            var shards = new List<string>();
            foreach (var p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{indexPath}: weight_map entry '{p.Name}' is not a file name");
                var shard = p.Value.GetString()!;
                if (!IsPlainFileName(shard))
                    throw new InvalidDataException($"{indexPath}: shard name '{shard}' (for '{p.Name}') is not a plain file name inside the folder");
                if (!shards.Contains(shard)) shards.Add(shard);
            }
            return shards;
        }
    }

    public static bool IsPlainFileName(string name) =>
        name.Length > 0 && name != "." && name != ".." && name.IndexOfAny(new[] { '/', '\\', '\0' }) < 0 && !System.IO.Path.IsPathRooted(name);

    public bool TryGet(string name, out TensorMeta meta)
    {
        if (_byName.TryGetValue(name, out var t))
        {
            meta = t.Entry.Meta;
            return true;
        }
        meta = null!;
        return false;
    }

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        if (!_byName.TryGetValue(name, out var t)) throw new KeyNotFoundException($"{Description}: no tensor named '{name}'");
        t.File.Read(t.Entry, byteOffset, destination);
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
