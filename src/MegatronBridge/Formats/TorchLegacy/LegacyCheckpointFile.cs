using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using Microsoft.Win32.SafeHandles;

namespace MegatronBridge.Formats.TorchLegacy;

/// <summary>
/// One rank's <c>model_optim_rng.pt</c> read without Python: the tensors of its state dict (<c>model</c> by default)
/// as an <see cref="ITensorSource"/>, plus iteration, checkpoint_version and args. Other top-level keys (optimizer,
/// rng_state, ...) are parsed by the allow-listed unpickler but not exposed; they are listed in
/// <see cref="SkippedKeys"/>. Non-tensor state-dict values (<c>_extra_state</c>) are kept in <see cref="ModelExtras"/>.
/// </summary>
internal sealed class LegacyCheckpointFile : ITensorSource, IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly Dictionary<string, TorchTensorRef> _tensors = new(StringComparer.Ordinal);
    private readonly List<TensorMeta> _metas = new();
    private readonly Dictionary<string, object?> _extras = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, TorchTensorRef>> _chunks = new(StringComparer.Ordinal);
    private readonly List<string> _modelKeys = new();

    private LegacyCheckpointFile(string path, SafeFileHandle file)
    {
        Description = path;
        _file = file;
    }

    public string Description { get; }
    public IReadOnlyList<TensorMeta> Tensors => _metas;
    public long? Iteration { get; private set; }
    public double? CheckpointVersion { get; private set; }
    public PyInstance? Args { get; private set; }

    /// <summary>Top-level keys other than args / checkpoint_version / iteration / the model key, in file order.</summary>
    public IReadOnlyList<string> SkippedKeys { get; private set; } = Array.Empty<string>();

    /// <summary>The selected state dict's key ("model", or "model0" with virtual pipeline stages).</summary>
    public string ModelKey { get; private set; } = "model";

    /// <summary>Every top-level state dict of a model chunk (<c>model</c>, or <c>model0</c>, <c>model1</c>, ... with virtual pipeline stages), in file order.</summary>
    public IReadOnlyList<string> ModelKeys => _modelKeys;

    /// <summary>Top-level keys that are neither args / checkpoint_version / iteration nor a model chunk (optimizer, rng_state, ...).</summary>
    public IReadOnlyList<string> OtherStateKeys => SkippedKeys.Where(k => !IsModelChunkKey(k)).ToList();

    /// <summary>State-dict entries that are not tensors (e.g. <c>_extra_state</c> None / BytesIO).</summary>
    public IReadOnlyDictionary<string, object?> ModelExtras => _extras;

    /// <param name="modelKey">The state dict exposed as this source's tensors; null takes the first model chunk (<c>model</c> or <c>model0</c>).</param>
    public static LegacyCheckpointFile Open(string path, string? modelKey = "model")
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such checkpoint file");
        MegatronBridge.IO.InputFile.EnsureRegular(path);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        var file = new LegacyCheckpointFile(path, handle);
        try
        {
            file.Load(modelKey);
        }
        catch
        {
            file.Dispose();
            throw;
        }
        return file;
    }

    private void Load(string? requestedKey)
    {
        var archive = TorchZipArchive.Open(_file, Description, 0, RandomAccess.GetLength(_file));
        if (TorchLoad.Load(archive) is not PyDict root)
            throw new InvalidInputException($"{Description}: the saved object is not a dict; not a Megatron model_optim_rng.pt");
        var skipped = new List<string>();
        PyDict? model = null;
        string? modelKey = requestedKey ?? root.Items.Select(kv => kv.Key as string).FirstOrDefault(k => k != null && IsModelChunkKey(k));
        modelKey ??= "model";
        ModelKey = modelKey;
        foreach (var (k, v) in root.Items)
        {
            if (k is string chunkKey && IsModelChunkKey(chunkKey) && v is PyDict chunk) LoadChunk(chunkKey, chunk);
            switch (k)
            {
                case "iteration":
                    Iteration = v as long? ?? throw new InvalidInputException($"{Description}: 'iteration' is {PyFormat.Repr(v)}, not an int");
                    break;
                case "checkpoint_version":
                    CheckpointVersion = v switch
                    {
                        double d => d,
                        long l => l,
                        _ => throw new InvalidInputException($"{Description}: 'checkpoint_version' is {PyFormat.Repr(v)}, not a number"),
                    };
                    break;
                case "args":
                    Args = v as PyInstance;
                    break;
                case string s when s == modelKey:
                    model = v as PyDict ?? throw new InvalidInputException($"{Description}: '{modelKey}' is not a state dict");
                    break;
                default:
                    skipped.Add(k as string ?? PyFormat.Repr(k));
                    break;
            }
        }
        SkippedKeys = skipped;
        if (model == null)
        {
            var models = string.Join(", ", skipped.Where(s => s.StartsWith("model", StringComparison.Ordinal)));
            throw new InvalidInputException($"{Description}: no '{modelKey}' state dict" + (models.Length > 0 ? $" (found: {models})" : ""));
        }
        foreach (var (name, t) in _chunks[modelKey])
        {
            _tensors[name] = t;
            _metas.Add(new TensorMeta(name, t.DType, t.TensorShape));
        }
        foreach (var (k, v) in model.Items)
        {
            if (v is not TorchTensorRef) _extras[(string)k!] = v;
        }
    }

    private void LoadChunk(string key, PyDict chunk)
    {
        var tensors = new Dictionary<string, TorchTensorRef>(StringComparer.Ordinal);
        foreach (var (k, v) in chunk.Items)
        {
            var name = k as string ?? throw new InvalidInputException($"{Description}: '{key}' state dict key {PyFormat.Repr(k)} is not a string");
            if (v is TorchTensorRef t)
            {
                if (!t.IsContiguous) throw new InvalidInputException($"{Description}: tensor '{name}' is not contiguous");
                tensors[name] = t;
            }
        }
        _chunks[key] = tensors;
        _modelKeys.Add(key);
    }

    /// <summary>"model", "model0", "model1", ...</summary>
    public static bool IsModelChunkKey(string key) =>
        key == "model" || (key.Length > 5 && key.StartsWith("model", StringComparison.Ordinal) && key.AsSpan(5).IndexOfAnyExceptInRange('0', '9') < 0);

    /// <summary>The tensors of one model chunk's state dict (see <see cref="ModelKeys"/>).</summary>
    public IReadOnlyList<TensorMeta> ChunkTensors(string modelKey) =>
        Chunk(modelKey).Select(kv => new TensorMeta(kv.Key, kv.Value.DType, kv.Value.TensorShape)).ToList();

    /// <summary>Reads bytes of a tensor of any model chunk.</summary>
    public void ReadChunk(string modelKey, string name, long byteOffset, Span<byte> destination)
    {
        if (!Chunk(modelKey).TryGetValue(name, out var t)) throw new InvalidInputException($"{Description}: no tensor named '{name}' in '{modelKey}'");
        if (byteOffset < 0 || byteOffset + destination.Length > t.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{Description}: read past the end of '{name}'");
        t.Read(byteOffset, destination);
    }

    private Dictionary<string, TorchTensorRef> Chunk(string modelKey) =>
        _chunks.TryGetValue(modelKey, out var chunk) ? chunk : throw new InvalidInputException($"{Description}: no '{modelKey}' state dict");

    public bool TryGet(string name, out TensorMeta meta)
    {
        if (_tensors.TryGetValue(name, out var t))
        {
            meta = new TensorMeta(name, t.DType, t.TensorShape);
            return true;
        }
        meta = null!;
        return false;
    }

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        if (!_tensors.TryGetValue(name, out var t)) throw new InvalidInputException($"{Description}: no tensor named '{name}'");
        if (byteOffset < 0 || byteOffset + destination.Length > t.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{Description}: read past the end of '{name}'");
        t.Read(byteOffset, destination);
    }

    public void Dispose() => _file.Dispose();
}
