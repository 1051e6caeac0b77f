using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchLegacy;

/// <summary>
/// Writes one rank's <c>model_optim_rng.pt</c> of Megatron-LM's legacy <c>torch</c> format (docs/formats.md, Legacy
/// per-rank checkpoints): torch.save to a path (archive name = file name without extension) of
/// <c>{args?, checkpoint_version, iteration, model}</c>, where <c>model</c> is an OrderedDict state dict. Tensor data is
/// streamed from producers while the file is written. No optimizer or RNG state is written (load with --finetune,
/// --no-load-optim --no-load-rng, or as a release).
/// </summary>
internal sealed class LegacyCheckpointWriter
{
    private readonly string _path;
    private readonly Dictionary<string, (PyDict Items, HashSet<string> Names)> _chunks = new(StringComparer.Ordinal);
    private readonly List<string> _chunkOrder = new();

    public LegacyCheckpointWriter(string path) => _path = path;

    public long Iteration { get; set; }
    public double CheckpointVersion { get; set; } = 3.0;

    /// <summary>Optional <c>args</c> entry (an argparse.Namespace instance); omitted when null.</summary>
    public PyInstance? Args { get; set; }

    /// <summary>Top-level entries written after the model state dicts (optimizer, rng_state, ... as a training run saves them).</summary>
    public PyDict? Extra { get; set; }

    /// <summary>
    /// Whether <see cref="Write"/> waits for the file to reach the disk before renaming it into place. A caller writing
    /// many rank files turns it off and calls <see cref="FlushFileToDisk"/> on all of them at the end: a flush per file
    /// would stop the conversion while each file's dirty pages drain, instead of overlapping that with the next file.
    /// </summary>
    public bool FlushToDisk { get; init; } = true;

    /// <summary>The key of the state dict ("model", or "model0", "model1", ... with virtual pipeline stages).</summary>
    public string ModelKey { get; set; } = "model";

    public void AddTensor(string name, TorchTensorValue tensor) => AddValue(name, tensor);

    public void AddTensor(string name, DType dtype, long[] shape, Action<ITensorSink> writeData) =>
        AddValue(name, new TorchTensorValue(dtype, shape, writeData));

    /// <summary>Adds a non-tensor state-dict value (e.g. an <c>_extra_state</c> of None or an empty uint8 tensor).</summary>
    public void AddValue(string name, object? value) => AddValue(ModelKey, name, value);

    /// <summary>Adds a tensor to the state dict of model chunk <paramref name="modelKey"/> (<c>model0</c>, <c>model1</c>, ... with virtual pipeline stages).</summary>
    public void AddTensor(string modelKey, string name, DType dtype, long[] shape, Action<ITensorSink> writeData) =>
        AddValue(modelKey, name, new TorchTensorValue(dtype, shape, writeData));

    /// <summary>Adds a state-dict entry to model chunk <paramref name="modelKey"/>; chunks are written in the order they are first used.</summary>
    public void AddValue(string modelKey, string name, object? value)
    {
        if (!LegacyCheckpointFile.IsModelChunkKey(modelKey)) throw new ArgumentException($"'{modelKey}' is not a model state dict key (model, model0, model1, ...)");
        if (!_chunks.TryGetValue(modelKey, out var chunk))
        {
            chunk = (new PyDict(), new HashSet<string>(StringComparer.Ordinal));
            _chunks[modelKey] = chunk;
            _chunkOrder.Add(modelKey);
        }
        if (!chunk.Names.Add(name)) throw new ArgumentException($"state dict entry '{name}' added twice to '{modelKey}'");
        chunk.Items.Add(name, value);
    }

    /// <summary>Builds an argparse.Namespace from attribute values, for <see cref="Args"/>.</summary>
    public static PyInstance Namespace(PyDict attributes) =>
        PyInstance.New(new PyGlobal("argparse", "Namespace")).WithState(attributes);

    private static PyInstance OrderedDict(PyDict items) => PyInstance.Reduce(new PyGlobal("collections", "OrderedDict")).WithDictItems(items);

    public void Write()
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(_path));
        if (dir != null) Directory.CreateDirectory(dir);
        var root = new PyDict();
        if (Args != null) root.Add("args", Args);
        root.Add("checkpoint_version", CheckpointVersion);
        root.Add("iteration", Iteration);
        if (_chunkOrder.Count == 0) root.Add(ModelKey, OrderedDict(new PyDict()));
        foreach (var key in _chunkOrder) root.Add(key, OrderedDict(_chunks[key].Items));
        if (Extra != null)
        {
            foreach (var (k, v) in Extra.Items) root.Add(k, v);
        }
        var tmp = _path + ".tmp";
        var archive = Path.GetFileNameWithoutExtension(_path);
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20))
        {
            TorchSave.Write(stream, root, archive);
            stream.Flush(flushToDisk: FlushToDisk);
        }
        File.Move(tmp, _path, overwrite: true);
    }

    /// <summary>Waits until a written file's data is on disk (fsync).</summary>
    public static void FlushFileToDisk(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        RandomAccess.FlushToDisk(handle);
    }
}
