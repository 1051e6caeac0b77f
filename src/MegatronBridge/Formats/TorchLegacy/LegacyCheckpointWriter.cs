using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchLegacy;

/// <summary>
/// Writes one rank's <c>model_optim_rng.pt</c> of Megatron-LM's legacy <c>torch</c> format (spec §6): torch.save to a
/// path (archive name = file name without extension) of <c>{args?, checkpoint_version, iteration, model}</c>, where
/// <c>model</c> is an OrderedDict state dict. Tensor data is streamed from producers while the file is written.
/// No optimizer or RNG state is written (load with --finetune, --no-load-optim --no-load-rng, or as a release).
/// </summary>
public sealed class LegacyCheckpointWriter
{
    private readonly string _path;
    private readonly PyDict _model = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public LegacyCheckpointWriter(string path) => _path = path;

    public long Iteration { get; set; }
    public double CheckpointVersion { get; set; } = 3.0;

    /// <summary>Optional <c>args</c> entry (an argparse.Namespace instance); omitted when null.</summary>
    public PyInstance? Args { get; set; }

    /// <summary>The key of the state dict ("model", or "model0", "model1", ... with virtual pipeline stages).</summary>
    public string ModelKey { get; set; } = "model";

    public void AddTensor(string name, TorchTensorValue tensor) => AddValue(name, tensor);

    public void AddTensor(string name, DType dtype, long[] shape, Action<ITensorSink> writeData) =>
        AddValue(name, new TorchTensorValue(dtype, shape, writeData));

    /// <summary>Adds a non-tensor state-dict value (e.g. an <c>_extra_state</c> of None or an empty uint8 tensor).</summary>
    public void AddValue(string name, object? value)
    {
        if (!_names.Add(name)) throw new ArgumentException($"state dict entry '{name}' added twice");
        _model.Add(name, value);
    }

    /// <summary>Builds an argparse.Namespace from attribute values, for <see cref="Args"/>.</summary>
    public static PyInstance Namespace(PyDict attributes) =>
        PyInstance.New(new PyGlobal("argparse", "Namespace")).WithState(attributes);

    public void Write()
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(_path));
        if (dir != null) Directory.CreateDirectory(dir);
        var root = new PyDict();
        if (Args != null) root.Add("args", Args);
        root.Add("checkpoint_version", CheckpointVersion);
        root.Add("iteration", Iteration);
        root.Add(ModelKey, PyInstance.Reduce(new PyGlobal("collections", "OrderedDict")).WithDictItems(_model));
        var tmp = _path + ".tmp";
        var archive = Path.GetFileNameWithoutExtension(_path);
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20))
        {
            TorchSave.Write(stream, root, archive);
            stream.Flush(flushToDisk: true);
        }
        File.Move(tmp, _path, overwrite: true);
    }
}
