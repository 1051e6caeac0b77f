using MegatronBridge.Formats.Pickle;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchDist;

/// <summary>
/// Converts <see cref="DcpMetadata"/> to and from the pickled <c>.metadata</c> file. Writing reproduces CPython's
/// protocol-4 output for Megatron's Metadata object byte for byte (docs/formats.md, Pickles): which strings and objects
/// are shared is modelled with PyStr / shared instances.
/// </summary>
internal static class DcpMetadataPickle
{
    private const string MetadataModule = "torch.distributed.checkpoint.metadata";
    private const string FilesystemModule = "torch.distributed.checkpoint.filesystem";

    /// <summary>Where torch 1.13 (still in Debian 12) defines the same classes; its files are read alike.</summary>
    private const string Torch113MetadataModule = "torch.distributed._shard.checkpoint.metadata";

    public static byte[] Serialize(DcpMetadata metadata)
    {
        var ctx = new WriteContext();
        var root = PyInstance.New(ctx.MetaClass("Metadata"));
        var state = new PyDict();

        var sdm = new PyDict();
        foreach (var entry in metadata.Entries) sdm.Add(entry.Fqn, ctx.Entry(entry));
        state.Add(ctx.Key("state_dict_metadata"), sdm);
        state.Add(ctx.Key("planner_data"), null);

        var storage = new PyDict();
        foreach (var item in metadata.StorageData) storage.Add(ctx.Index(item.Key, item.Info.RelativePath), ctx.Info(item.Info));
        state.Add(ctx.Key("storage_data"), storage);

        if (metadata.HasStorageMeta)
        {
            var meta = PyInstance.New(ctx.MetaClass("StorageMeta"));
            meta.WithState(new PyDict()
                .Add(ctx.Key("checkpoint_id"), metadata.CheckpointId)
                .Add(ctx.Key("save_id"), metadata.SaveId)
                .Add(ctx.Key("load_id"), null)
                .Add(ctx.Key("modules"), new List<object?>()));
            state.Add(ctx.Key("storage_meta"), meta);
        }
        if (metadata.Version != null) state.Add(ctx.Key("version"), metadata.Version);
        root.WithState(state);
        return PickleWriter.Serialize(root, protocol: 4);
    }

    /// <summary>The shared objects of one pickling, mirroring CPython object identity.</summary>
    private sealed class WriteContext
    {
        private readonly PyStr _metaModule = new(MetadataModule);
        private readonly PyStr _fsModule = new(FilesystemModule);
        private readonly PyStr _serializationModule = new("torch.serialization");
        private readonly PyStr _torchForDtypes = new("torch");
        private readonly PyStr _torchForSize = new("torch");
        private readonly Dictionary<(PyStr Module, string Name), PyGlobal> _globals = new();
        private readonly Dictionary<string, PyStr> _keys = new();
        private readonly Dictionary<string, PyStr> _paths = new();
        private readonly Dictionary<string, PyStr> _storageFqns = new();
        private PyInstance? _layout;
        private PyInstance? _memFormat;

        public PyStr Key(string name) => Shared(_keys, name);

        private static PyStr Shared(Dictionary<string, PyStr> table, string value) => Shared(table, value, value);

        private static PyStr Shared(Dictionary<string, PyStr> table, string identity, string value)
        {
            if (!table.TryGetValue(identity, out var s)) table[identity] = s = new PyStr(value);
            return s;
        }

        /// <summary>"__3_0.distcp" -> "3"; other names stand for themselves.</summary>
        private static string RankOf(string file)
        {
            var m = System.Text.RegularExpressions.Regex.Match(file, @"^__(\d+)_\d+\.distcp$");
            return m.Success ? m.Groups[1].Value : file;
        }

        private PyGlobal Global(PyStr module, string name)
        {
            if (!_globals.TryGetValue((module, name), out var g)) _globals[(module, name)] = g = new PyGlobal(module.Value, name, module);
            return g;
        }

        public PyGlobal MetaClass(string name) => Global(_metaModule, name);

        private PyInstance Size(long[] dims) =>
            PyInstance.Reduce(Global(_torchForSize, "Size"), new PyTuple(dims.Select(d => (object?)d).ToArray()));

        public object Entry(DcpEntry entry)
        {
            switch (entry)
            {
                case DcpBytesEntry:
                    return PyInstance.New(MetaClass("BytesStorageMetadata"));
                case DcpTensorEntry t:
                    var chunks = new List<object?>();
                    foreach (var c in t.Chunks)
                    {
                        chunks.Add(PyInstance.New(MetaClass("ChunkStorageMetadata"))
                            .WithState(new PyDict().Add(Key("offsets"), Size(c.Offsets)).Add(Key("sizes"), Size(c.Sizes))));
                    }
                    return PyInstance.New(MetaClass("TensorStorageMetadata")).WithState(new PyDict()
                        .Add(Key("properties"), Properties(t.DType))
                        .Add(Key("size"), Size(t.Size))
                        .Add(Key("chunks"), chunks));
                default:
                    throw new ArgumentException($"unknown entry type {entry.GetType().Name}");
            }
        }

        private PyInstance Properties(DType dtype)
        {
            _layout ??= PyInstance.Reduce(Global(_serializationModule, "_get_layout"), "torch.strided");
            _memFormat ??= PyInstance.Reduce(MetaClass("_MEM_FORMAT_ENCODING"), 0L);
            var state = PyTuple.Of(Global(_torchForDtypes, dtype.TorchName()), _layout, false, _memFormat, false);
            return PyInstance.New(MetaClass("TensorProperties")).WithState(state);
        }

        /// <param name="file">The item's file: each rank's plan carries its own fqn string objects.</param>
        public PyInstance Index(DcpStorageKey key, string file)
        {
            var state = new PyDict().Add(Key("fqn"), Shared(_storageFqns, RankOf(file) + "\n" + key.Fqn, key.Fqn)).Add(Key("index"), key.Index);
            if (key.Offset != null) state.Add(Key("offset"), Size(key.Offset));
            return PyInstance.New(MetaClass("MetadataIndex")).WithState(state);
        }

        public PyInstance Info(DcpStorageInfo info) =>
            PyInstance.New(Global(_fsModule, "_StorageInfo")).WithState(new PyDict()
                .Add(Key("relative_path"), Shared(_paths, info.RelativePath))
                .Add(Key("offset"), info.Offset)
                .Add(Key("length"), info.Length));
    }

    /// <summary>Parses a <c>.metadata</c> pickle with the allow-listed reader.</summary>
    public static DcpMetadata Parse(ReadOnlyMemory<byte> data, string source)
    {
        var root = PickleReader.Load(data, source) as PyInstance;
        if (root == null || (root.Type.FullName != MetadataModule + ".Metadata" && root.Type.FullName != Torch113MetadataModule + ".Metadata"))
            throw new InvalidInputException($"{source}: the pickle does not hold a torch.distributed.checkpoint Metadata object");
        var md = new DcpMetadata { HasStorageMeta = false, Version = null };

        if (!root.TryGetAttribute("state_dict_metadata", out var sdmValue) || sdmValue is not PyDict sdm)
            throw new InvalidInputException($"{source}: Metadata has no state_dict_metadata dict");
        foreach (var (k, v) in sdm.Items)
        {
            var fqn = k as string ?? throw new InvalidInputException($"{source}: state_dict_metadata key {PyFormat.Repr(k)} is not a string");
            md.Entries.Add(ParseEntry(fqn, v, source));
        }

        if (root.TryGetAttribute("storage_data", out var sdValue) && sdValue is PyDict storage)
        {
            foreach (var (k, v) in storage.Items) md.StorageData.Add(new DcpStorageItem(ParseIndex(k, source), ParseInfo(v, source)));
        }
        else
        {
            throw new InvalidInputException($"{source}: Metadata has no storage_data dict");
        }

        if (root.TryGetAttribute("storage_meta", out var smValue) && smValue is PyInstance sm)
        {
            md.HasStorageMeta = true;
            if (sm.TryGetAttribute("checkpoint_id", out var cid)) md.CheckpointId = PathText(cid);
            if (sm.TryGetAttribute("save_id", out var sid)) md.SaveId = sid as string;
        }
        if (root.TryGetAttribute("version", out var version)) md.Version = version as string;
        return md;
    }

    private static string? PathText(object? value) => value switch
    {
        string s => s,
        PyInstance { Type.Module: "pathlib" } p => string.Join("/", p.Args.Items.Select(a => a as string ?? "")).Replace("//", "/"),
        _ => null,
    };

    private static DcpEntry ParseEntry(string fqn, object? value, string source)
    {
        if (value is not PyInstance inst) throw new InvalidInputException($"{source}: entry '{fqn}' is not a storage metadata object");
        switch (inst.Type.Name)
        {
            case "BytesStorageMetadata":
                return new DcpBytesEntry(fqn);
            case "TensorStorageMetadata":
                if (!inst.TryGetAttribute("properties", out var props) || props is not PyInstance p)
                    throw new InvalidInputException($"{source}: tensor '{fqn}' has no properties");
                var dtype = ParseDType(p, fqn, source);
                var size = inst.TryGetAttribute("size", out var sz) ? Longs(sz, $"{fqn} size", source)
                    : throw new InvalidInputException($"{source}: tensor '{fqn}' has no size");
                if (!inst.TryGetAttribute("chunks", out var ch) || ch is not List<object?> chunkList)
                    throw new InvalidInputException($"{source}: tensor '{fqn}' has no chunk list");
                var chunks = new List<DcpChunk>();
                foreach (var c in chunkList)
                {
                    if (c is not PyInstance ci || !ci.TryGetAttribute("offsets", out var off) || !ci.TryGetAttribute("sizes", out var szs))
                        throw new InvalidInputException($"{source}: tensor '{fqn}' has a malformed chunk");
                    var chunk = new DcpChunk(Longs(off, $"{fqn} chunk offsets", source), Longs(szs, $"{fqn} chunk sizes", source));
                    if (chunk.Offsets.Length != size.Length || chunk.Sizes.Length != size.Length)
                        throw new InvalidInputException($"{source}: tensor '{fqn}' chunk {chunk} has a different rank than the tensor ({size.Length})");
                    chunks.Add(chunk);
                }
                return new DcpTensorEntry(fqn, dtype, size, chunks);
            default:
                throw new InvalidInputException($"{source}: entry '{fqn}' has unknown storage metadata type {inst.Type.FullName}");
        }
    }

    private static DType ParseDType(PyInstance properties, string fqn, string source)
    {
        object? dtypeValue = null;
        if (properties.State is PyTuple { Count: > 0 } t) dtypeValue = t[0];
        else properties.TryGetAttribute("dtype", out dtypeValue);
        if (dtypeValue is PyGlobal { Module: "torch" } g && DTypes.TryFromTorchName(g.Name, out var dtype)) return dtype;
        throw new InvalidInputException($"{source}: tensor '{fqn}' has an unsupported dtype {PyFormat.Repr(dtypeValue)}");
    }

    /// <summary>A torch.Size (REDUCE of torch.Size with one tuple), a tuple or a list of ints.</summary>
    internal static long[] Longs(object? value, string what, string source)
    {
        if (value is PyInstance { Type.FullName: "torch.Size", Args.Count: 1 } size) value = size.Args[0];
        IReadOnlyList<object?>? items = value switch
        {
            PyTuple t => t.Items,
            List<object?> l => l,
            _ => null,
        };
        if (items == null) throw new InvalidInputException($"{source}: {what} is not a tuple of ints ({PyFormat.Repr(value)})");
        var result = new long[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            result[i] = items[i] is long l && l >= 0 ? l
                : throw new InvalidInputException($"{source}: {what} holds {PyFormat.Repr(items[i])}, not a non-negative int");
        }
        return result;
    }

    private static DcpStorageKey ParseIndex(object? value, string source)
    {
        if (value is not PyInstance inst || inst.Type.Name != "MetadataIndex" || !inst.TryGetAttribute("fqn", out var fqnValue) || fqnValue is not string fqn)
            throw new InvalidInputException($"{source}: storage_data key {PyFormat.Repr(value)} is not a MetadataIndex");
        long[]? offset = inst.TryGetAttribute("offset", out var o) && o != null ? Longs(o, $"{fqn} storage offset", source) : null;
        long? index = inst.TryGetAttribute("index", out var ix) && ix is long l ? l : null;
        return new DcpStorageKey(fqn, offset, index);
    }

    private static DcpStorageInfo ParseInfo(object? value, string source)
    {
        if (value is not PyInstance inst || inst.Type.Name != "_StorageInfo")
            throw new InvalidInputException($"{source}: storage_data value {PyFormat.Repr(value)} is not a _StorageInfo");
        if (!inst.TryGetAttribute("relative_path", out var rp) || rp is not string path
            || !inst.TryGetAttribute("offset", out var off) || off is not long offset
            || !inst.TryGetAttribute("length", out var len) || len is not long length)
            throw new InvalidInputException($"{source}: _StorageInfo {PyFormat.Repr(value)} lacks relative_path/offset/length");
        if (inst.TryGetAttribute("transform_descriptors", out var td) && td is List<object?> { Count: > 0 })
            throw new InvalidInputException($"{source}: item at {path}:{offset} uses stream transforms {PyFormat.Repr(td)}, which are not supported");
        if (offset < 0 || length < 0)
            throw new InvalidInputException($"{source}: _StorageInfo for {path} has a negative offset or length");
        return new DcpStorageInfo(path, offset, length);
    }
}
