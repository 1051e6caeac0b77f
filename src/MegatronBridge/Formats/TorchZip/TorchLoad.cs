using MegatronBridge.Formats.Pickle;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchZip;

/// <summary>A storage of a torch archive: its data record and element type.</summary>
internal sealed record TorchStorageRef(string Key, DType DType, long NumElements, TorchZipRecord Record);

/// <summary>A tensor found in data.pkl: a strided view of a storage. Its data stays in the archive until read.</summary>
internal sealed record TorchTensorRef(TorchZipArchive Archive, TorchStorageRef Storage, long StorageOffset, long[] Shape, long[] Strides)
{
    public DType DType => Storage.DType;
    public TensorShape TensorShape => new(Shape);
    public long ByteLength => checked(TensorShape.NumElements * DType.Size());

    /// <summary>Row-major contiguous as torch defines it: strides of length-1 axes do not matter.</summary>
    public bool IsContiguous
    {
        get
        {
            if (TensorShape.NumElements <= 1) return true;
            long expected = 1;
            for (int d = Shape.Length - 1; d >= 0; d--)
            {
                if (Shape[d] != 1 && Strides[d] != expected) return false;
                expected *= Shape[d];
            }
            return true;
        }
    }

    /// <summary>Reads row-major bytes of a contiguous tensor.</summary>
    public void Read(long byteOffset, Span<byte> destination)
    {
        if (!IsContiguous) throw new InvalidInputException($"{Archive.Source}: tensor on storage '{Storage.Key}' is not contiguous; only contiguous tensors are read");
        Archive.ReadRecordRange(Storage.Record, StorageOffset * DType.Size() + byteOffset, destination);
    }

    public byte[] ReadAll()
    {
        var data = new byte[ByteLength];
        Read(0, data);
        return data;
    }
}

/// <summary>
/// torch.load without Python: interprets data.pkl with the allow-listed unpickler; tensors become
/// <see cref="TorchTensorRef"/> values (validated against their storages), everything else plain values.
/// </summary>
internal static class TorchLoad
{
    public static object? Load(TorchZipArchive archive)
    {
        var storages = new Dictionary<string, TorchStorageRef>(StringComparer.Ordinal);
        var source = $"{archive.Source} ({archive.ArchiveName}/data.pkl)";
        var pickle = archive.ReadRecord("data.pkl");
        var root = PickleReader.Load(pickle, source, PickleAllowList.Torch, pid => LoadStorage(archive, storages, pid, source));
        return ResolveTensors(root, archive, source);
    }

    /// <summary>
    /// Loads a small torch.save file (common.pt, train_state.pt). Tensors in the result read lazily from the file, so
    /// its handle stays open while they are reachable and is closed by its finalizer afterwards; on failure it is
    /// closed at once.
    /// </summary>
    public static object? LoadFile(string path)
    {
        MegatronBridge.IO.InputFile.EnsureRegular(path);
        var file = File.OpenHandle(path);
        try
        {
            return Load(TorchZipArchive.Open(file, path, 0, RandomAccess.GetLength(file)));
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static TorchStorageRef LoadStorage(TorchZipArchive archive, Dictionary<string, TorchStorageRef> storages, object? pid, string source)
    {
        if (pid is not PyTuple { Count: 5 } t || t[0] is not "storage" || t[1] is not PyGlobal cls || t[2] is not string key || t[4] is not long numel)
            throw new InvalidInputException($"{source}: unexpected persistent id {PyFormat.Repr(pid)}");
        if (!TorchStorageTypes.TryFromStorageClass(cls, out var dtype))
            throw new InvalidInputException($"{source}: unsupported storage class {cls.FullName}");
        if (storages.TryGetValue(key, out var existing)) return existing;
        var record = archive.GetRecord("data/" + key);
        if (numel < 0 || record.Length != checked(numel * dtype.Size()))
            throw new InvalidInputException($"{source}: storage '{key}' ({cls.Name}, {numel} elements) does not match its record of {record.Length} bytes");
        return storages[key] = new TorchStorageRef(key, dtype, numel, record);
    }

    private const int MaxNesting = 500;

    /// <summary>
    /// Turns REDUCE(_rebuild_tensor_v2, ...) records into validated tensor references, in place. Containers are
    /// visited once, so self-referencing pickles terminate; absurd nesting is rejected instead of overflowing the stack.
    /// </summary>
    private static object? ResolveTensors(object? value, TorchZipArchive archive, string source) =>
        Resolve(value, archive, source, new HashSet<object>(ReferenceEqualityComparer.Instance), 0);

    private static object? Resolve(object? value, TorchZipArchive archive, string source, HashSet<object> visited, int depth)
    {
        if (depth > MaxNesting) throw new InvalidInputException($"{source}: objects nested more than {MaxNesting} levels deep");
        switch (value)
        {
            case PyInstance { Type.FullName: "torch._utils._rebuild_tensor_v2" } inst:
                return Tensor(inst, archive, source);
            case PyInstance { Type.FullName: "torch._utils._rebuild_parameter", Args.Count: >= 1 } param:
                return Resolve(param.Args[0], archive, source, visited, depth + 1);
            case List<object?> list:
                if (!visited.Add(list)) return list;
                for (int i = 0; i < list.Count; i++) list[i] = Resolve(list[i], archive, source, visited, depth + 1);
                return list;
            case PyTuple tuple:
                if (!visited.Add(tuple)) return tuple;
                for (int i = 0; i < tuple.Count; i++) tuple.ReplaceItem(i, Resolve(tuple[i], archive, source, visited, depth + 1));
                return tuple;
            case PyDict dict:
                if (!visited.Add(dict)) return dict;
                for (int i = 0; i < dict.Count; i++) dict.ReplaceValueAt(i, Resolve(dict.Items[i].Value, archive, source, visited, depth + 1));
                return dict;
            default:
                return value;
        }
    }

    private static TorchTensorRef Tensor(PyInstance inst, TorchZipArchive archive, string source)
    {
        var a = inst.Args;
        if (a.Count < 4 || a[0] is not TorchStorageRef storage || a[1] is not long storageOffset)
            throw new InvalidInputException($"{source}: malformed _rebuild_tensor_v2 call {inst}");
        var shape = Longs(a[2], "size", source);
        var strides = Longs(a[3], "stride", source);
        if (shape.Length != strides.Length) throw new InvalidInputException($"{source}: tensor size and stride have different ranks");
        long lastElement = storageOffset;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0) { lastElement = -1; break; }
            lastElement += (shape[i] - 1) * strides[i];
        }
        if (storageOffset < 0 || lastElement >= storage.NumElements)
            throw new InvalidInputException($"{source}: tensor of shape ({string.Join(", ", shape)}) at offset {storageOffset} exceeds storage '{storage.Key}' ({storage.NumElements} elements)");
        return new TorchTensorRef(archive, storage, storageOffset, shape, strides);
    }

    private static long[] Longs(object? value, string what, string source)
    {
        if (value is PyInstance { Type.FullName: "torch.Size", Args.Count: 1 } size) value = size.Args[0];
        if (value is not PyTuple t) throw new InvalidInputException($"{source}: tensor {what} is not a tuple");
        return t.Items.Select(x => x is long l && l >= 0 ? l : throw new InvalidInputException($"{source}: tensor {what} holds {PyFormat.Repr(x)}")).ToArray();
    }
}
