using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>
/// A Hugging Face checkpoint folder: one model.safetensors, or shards listed by model.safetensors.index.json.
/// Presents all tensors as one <see cref="ITensorSource"/>.
/// </summary>
internal sealed class SafetensorsCheckpoint : ITensorSource, IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>Whether <paramref name="folder"/> holds weights (a single safetensors file or a sharded index), not only config files.</summary>
    public static bool HasWeights(string folder) =>
        File.Exists(Path.Combine(folder, SingleFileName)) || File.Exists(Path.Combine(folder, IndexFileName));

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, (SafetensorsFile File, SafetensorsEntry Entry)> _byName = new(StringComparer.Ordinal);
    private readonly List<TensorMeta> _tensors = new();

    private SafetensorsCheckpoint(string folder, List<SafetensorsFile> files, string? indexPath)
    {
        Description = folder;
        IndexPath = indexPath;
        _files = files;
        foreach (var f in files)
        {
            foreach (var e in f.Entries)
            {
                if (_byName.ContainsKey(e.Meta.Name))
                    throw new InvalidInputException($"{f.Path}: tensor '{e.Meta.Name}' also appears in {_byName[e.Meta.Name].File.Path}");
                _byName[e.Meta.Name] = (f, e);
                _tensors.Add(e.Meta);
            }
        }
    }

    public string Description { get; }
    public IReadOnlyList<TensorMeta> Tensors => _tensors;
    public IReadOnlyList<SafetensorsFile> Files => _files;
    /// <summary>The index file the checkpoint was opened through, or null for a single model.safetensors.</summary>
    public string? IndexPath { get; }

    /// <summary>The shard file name holding each tensor (for writing back the same layout).</summary>
    public string FileOf(string tensorName) =>
        _byName.TryGetValue(tensorName, out var t)
            ? System.IO.Path.GetFileName(t.File.Path)
            : throw new InvalidInputException($"{Description}: no tensor named '{tensorName}'");

    /// <summary>
    /// Opens a checkpoint folder: model.safetensors when present (transformers' precedence), else the index. With an
    /// index, every shard it names must exist, hold exactly the tensors the index assigns to it, and no tensor may
    /// appear twice.
    /// </summary>
    public static SafetensorsCheckpoint Open(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such folder");
        var indexPath = System.IO.Path.Combine(folder, IndexFileName);
        var single = System.IO.Path.Combine(folder, SingleFileName);
        var files = new List<SafetensorsFile>();
        // transformers looks for model.safetensors before the index: a folder with both loads the single file.
        bool hasIndex = !File.Exists(single) && File.Exists(indexPath);
        try
        {
            if (hasIndex)
            {
                var index = SafetensorsIndex.Read(indexPath);
                foreach (var shard in index.Shards)
                {
                    var shardPath = System.IO.Path.Combine(folder, shard);
                    if (!File.Exists(shardPath))
                        throw new FileNotFoundException($"{indexPath}: shard '{shard}' named by the index does not exist", shardPath);
                    files.Add(SafetensorsFile.Open(shardPath));
                }
                CheckIndexMatchesShards(index, files);
            }
            else if (File.Exists(single))
            {
                files.Add(SafetensorsFile.Open(single));
            }
            else
            {
                throw new FileNotFoundException($"{folder}: neither {SingleFileName} nor {IndexFileName} found");
            }
            return new SafetensorsCheckpoint(folder, files, hasIndex ? indexPath : null);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    private static void CheckIndexMatchesShards(SafetensorsIndex index, List<SafetensorsFile> files)
    {
        var byShard = files.ToDictionary(f => System.IO.Path.GetFileName(f.Path), StringComparer.Ordinal);
        foreach (var (tensor, shard) in index.WeightMap)
        {
            var file = byShard[shard];
            if (!file.ByName.ContainsKey(tensor))
                throw new InvalidInputException($"{index.Path}: tensor '{tensor}' is assigned to {shard}, but {file.Path} has no such tensor");
        }
        foreach (var file in files)
        {
            var shard = System.IO.Path.GetFileName(file.Path);
            foreach (var e in file.Entries)
            {
                if (!index.ShardOf.TryGetValue(e.Meta.Name, out var assigned))
                    throw new InvalidInputException($"{file.Path}: tensor '{e.Meta.Name}' is not listed in {index.Path}");
                if (assigned != shard)
                    throw new InvalidInputException($"{file.Path}: tensor '{e.Meta.Name}' is assigned to {assigned} by {index.Path}");
            }
        }
    }

    /// <summary>Distinct shard names of an index, in first-appearance order, each checked to stay inside the folder.</summary>
    public static List<string> ReadIndexShards(string indexPath) => SafetensorsIndex.Read(indexPath).Shards.ToList();

    public static bool IsPlainFileName(string name) => SafetensorsIndex.IsPlainFileName(name);

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
        if (!_byName.TryGetValue(name, out var t)) throw new InvalidInputException($"{Description}: no tensor named '{name}'");
        t.File.Read(t.Entry, byteOffset, destination);
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
