using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Tensors;
using Microsoft.Win32.SafeHandles;

namespace MegatronBridge.Formats.TorchLegacy;

/// <summary>
/// One rank's <c>model_optim_rng.pt</c> read without Python: the tensors of its state dict (<c>model</c> by default)
/// as an <see cref="ITensorSource"/>, plus iteration, checkpoint_version and args. Other top-level keys (optimizer,
/// rng_state, ...) are parsed by the allow-listed unpickler but not exposed; they are listed in
/// <see cref="SkippedKeys"/>. Non-tensor state-dict values (<c>_extra_state</c>) are kept in <see cref="ModelExtras"/>.
/// </summary>
public sealed class LegacyCheckpointFile : ITensorSource, IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly Dictionary<string, TorchTensorRef> _tensors = new(StringComparer.Ordinal);
    private readonly List<TensorMeta> _metas = new();
    private readonly Dictionary<string, object?> _extras = new(StringComparer.Ordinal);

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

    /// <summary>State-dict entries that are not tensors (e.g. <c>_extra_state</c> None / BytesIO).</summary>
    public IReadOnlyDictionary<string, object?> ModelExtras => _extras;

    public static LegacyCheckpointFile Open(string path, string modelKey = "model")
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such checkpoint file");
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

    private void Load(string modelKey)
    {
        var archive = TorchZipArchive.Open(_file, Description, 0, RandomAccess.GetLength(_file));
        if (TorchLoad.Load(archive) is not PyDict root)
            throw new InvalidDataException($"{Description}: the saved object is not a dict; not a Megatron model_optim_rng.pt");
        var skipped = new List<string>();
        PyDict? model = null;
        foreach (var (k, v) in root.Items)
        {
            switch (k)
            {
                case "iteration":
                    Iteration = v as long? ?? throw new InvalidDataException($"{Description}: 'iteration' is {PyFormat.Repr(v)}, not an int");
                    break;
                case "checkpoint_version":
                    CheckpointVersion = v switch
                    {
                        double d => d,
                        long l => l,
                        _ => throw new InvalidDataException($"{Description}: 'checkpoint_version' is {PyFormat.Repr(v)}, not a number"),
                    };
                    break;
                case "args":
                    Args = v as PyInstance;
                    break;
                case string s when s == modelKey:
                    model = v as PyDict ?? throw new InvalidDataException($"{Description}: '{modelKey}' is not a state dict");
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
            throw new InvalidDataException($"{Description}: no '{modelKey}' state dict" + (models.Length > 0 ? $" (found: {models})" : ""));
        }
        foreach (var (k, v) in model.Items)
        {
            var name = k as string ?? throw new InvalidDataException($"{Description}: state dict key {PyFormat.Repr(k)} is not a string");
            if (v is TorchTensorRef t)
            {
                if (!t.IsContiguous) throw new InvalidDataException($"{Description}: tensor '{name}' is not contiguous");
                _tensors[name] = t;
                _metas.Add(new TensorMeta(name, t.DType, t.TensorShape));
            }
            else
            {
                _extras[name] = v;
            }
        }
    }

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
        if (!_tensors.TryGetValue(name, out var t)) throw new KeyNotFoundException($"{Description}: no tensor named '{name}'");
        if (byteOffset < 0 || byteOffset + destination.Length > t.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{Description}: read past the end of '{name}'");
        t.Read(byteOffset, destination);
    }

    public void Dispose() => _file.Dispose();
}
