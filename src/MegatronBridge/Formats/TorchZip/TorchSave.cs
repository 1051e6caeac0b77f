using MegatronBridge.Formats.Pickle;

namespace MegatronBridge.Formats.TorchZip;

/// <summary>
/// torch.save without Python: pickles a value graph (PyValues.cs types plus <see cref="TorchTensorValue"/> leaves)
/// with protocol 2 as torch does and writes the zip archive. <see cref="Prepare"/> computes the exact archive size
/// before any tensor data is produced.
/// </summary>
internal static class TorchSave
{
    public static PreparedTorchSave Prepare(object? value, string archiveName = "archive")
    {
        var tensors = new List<TorchTensorValue>();
        var pickled = new TensorPickler(tensors).Convert(value);
        var dataPkl = PickleWriter.Serialize(pickled, protocol: 2);
        return new PreparedTorchSave(archiveName, dataPkl, tensors);
    }

    /// <summary>Writes the archive to <paramref name="output"/> at its current position; returns its length.</summary>
    public static long Write(Stream output, object? value, string archiveName = "archive") =>
        Prepare(value, archiveName).WriteTo(output);

    /// <summary>torch.save to a path: the archive is named after the file name without its extension.</summary>
    public static void WriteFile(string path, object? value)
    {
        var archive = Path.GetFileNameWithoutExtension(path);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        Write(stream, value, archive);
    }

    /// <summary>Replaces tensors by their pickled form, numbering storages in first-reference order.</summary>
    private sealed class TensorPickler(List<TorchTensorValue> tensors)
    {
        private readonly PyStr _storage = new("storage");
        private readonly PyStr _cpu = new("cpu");
        private readonly PyGlobal _rebuild = new("torch._utils", "_rebuild_tensor_v2");
        private readonly PyGlobal _orderedDict = new("collections", "OrderedDict");
        private readonly Dictionary<string, PyGlobal> _storageClasses = new();

        // torch.save's pickler memoizes a class the first time it writes it and refers back to it (BINGET) after,
        // so every global used in the value is reduced to one object per module and name: the state dicts'
        // OrderedDict and the tensors' backward-hook OrderedDict() then pickle as one GLOBAL, as Python writes them.
        private readonly Dictionary<(string Module, string Name), PyGlobal> _globals = new();

        // Conversions by reference, so an object used twice stays one object (one storage for a shared tensor).
        private readonly Dictionary<object, object?> _converted = new(ReferenceEqualityComparer.Instance);

        public object? Convert(object? value)
        {
            if (value is PyGlobal g) return Global(g);
            if (value is null || value is string || value.GetType().IsValueType || value is PyStr or byte[]) return value;
            if (_converted.TryGetValue(value, out var done)) return done;
            object? result = value switch
            {
                TorchTensorValue t => Tensor(t),
                List<object?> list => list.Select(Convert).ToList(),
                PyTuple tuple => new PyTuple(tuple.Items.Select(Convert).ToArray()),
                PyDict dict => ConvertDict(dict),
                PyInstance inst => ConvertInstance(inst),
                PyPersistentId pid => new PyPersistentId(Convert(pid.Id)),
                _ => throw new ArgumentException($"cannot torch.save a value of type {value.GetType().Name}"),
            };
            _converted[value] = result;
            return result;
        }

        private PyDict ConvertDict(PyDict dict)
        {
            var result = new PyDict();
            foreach (var (k, v) in dict.Items)
            {
                var key = Convert(k);
                result.Add(key, Convert(v));
            }
            return result;
        }

        private PyInstance ConvertInstance(PyInstance inst)
        {
            var args = (PyTuple)Convert(inst.Args)!;
            var result = new PyInstance(Global(inst.Type), args, inst.ViaReduce);
            if (inst.DictItems != null) result.WithDictItems(ConvertDict(inst.DictItems));
            if (inst.HasState) result.WithState(Convert(inst.State));
            return result;
        }

        private PyGlobal Global(PyGlobal g)
        {
            if (_globals.TryGetValue((g.Module, g.Name), out var known)) return known;
            _globals[(g.Module, g.Name)] = g;
            return g;
        }

        private PyInstance Tensor(TorchTensorValue t)
        {
            var className = TorchStorageTypes.StorageClassName(t.DType);
            if (!_storageClasses.TryGetValue(className, out var storageClass))
                _storageClasses[className] = storageClass = Global(new PyGlobal("torch", className));
            var key = tensors.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            tensors.Add(t);
            var numel = t.Shape.NumElements;
            var pid = new PyPersistentId(PyTuple.Of(_storage, storageClass, key, _cpu, numel));
            var size = new PyTuple(t.Shape.Select(d => (object?)d).ToArray());
            var stride = new PyTuple(t.Shape.ContiguousStrides().Select(d => (object?)d).ToArray());
            return PyInstance.Reduce(Global(_rebuild), pid, 0L, size, stride, false, PyInstance.Reduce(Global(_orderedDict)));
        }
    }
}

/// <summary>A torch.save whose pickle is built and whose size is known; tensor data is produced on <see cref="WriteTo"/>.</summary>
internal sealed class PreparedTorchSave
{
    private readonly string _archiveName;
    private readonly byte[] _dataPkl;
    private readonly IReadOnlyList<TorchTensorValue> _tensors;

    internal PreparedTorchSave(string archiveName, byte[] dataPkl, IReadOnlyList<TorchTensorValue> tensors)
    {
        _archiveName = archiveName;
        _dataPkl = dataPkl;
        _tensors = tensors;
        Length = TorchZipWriter.ArchiveSize(archiveName, Records());
    }

    /// <summary>Exact number of bytes <see cref="WriteTo"/> will write.</summary>
    public long Length { get; }

    public ReadOnlyMemory<byte> DataPkl => _dataPkl;

    private IEnumerable<(string, long)> Records()
    {
        yield return ("data.pkl", _dataPkl.Length);
        yield return (".format_version", 1);
        yield return (".storage_alignment", 2);
        yield return ("byteorder", 6);
        for (int i = 0; i < _tensors.Count; i++) yield return ($"data/{i}", _tensors[i].ByteLength);
    }

    public long WriteTo(Stream output)
    {
        var zip = new TorchZipWriter(output, _archiveName);
        zip.WriteRecord("data.pkl", _dataPkl);
        zip.WriteRecord(".format_version", "1"u8);
        zip.WriteRecord(".storage_alignment", "64"u8);
        zip.WriteRecord("byteorder", "little"u8);
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            zip.WriteRecord($"data/{i}", t.ByteLength, t.WriteData);
        }
        zip.Finish();
        if (zip.Length != Length)
            throw new InvalidOperationException($"torch.save archive is {zip.Length} bytes, {Length} were planned");
        return Length;
    }
}
