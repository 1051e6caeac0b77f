namespace MegatronBridge.Formats.Pickle;

/// <summary>
/// The module-level names an unpickled stream may refer to. Nothing is ever called: an allowed global becomes a
/// <see cref="PyGlobal"/> value and calls on it become inert <see cref="PyInstance"/> records. Every other name is
/// rejected, because a pickle naming os.system or builtins.eval is an attack, not a checkpoint.
/// </summary>
internal sealed class PickleAllowList
{
    private readonly HashSet<string> _names;
    private readonly List<string> _modulePrefixes;

    public PickleAllowList(IEnumerable<string> names, IEnumerable<string> wholeModules)
    {
        _names = new HashSet<string>(names, StringComparer.Ordinal);
        _modulePrefixes = wholeModules.ToList();
    }

    public bool IsAllowed(string module, string name)
    {
        if (_names.Contains(module + "." + name)) return true;
        foreach (var m in _modulePrefixes)
        {
            if (module == m) return true;
        }
        return false;
    }

    /// <summary>Legacy typed storage classes named in data.pkl persistent ids.</summary>
    public static readonly string[] TorchStorageNames =
    {
        "BFloat16Storage", "HalfStorage", "FloatStorage", "DoubleStorage", "LongStorage", "IntStorage",
        "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage", "UntypedStorage",
    };

    public static readonly string[] TorchDtypeNames =
    {
        "bfloat16", "float16", "half", "float32", "float", "float64", "double", "int64", "long", "int32", "int",
        "int16", "short", "int8", "uint8", "bool", "float8_e4m3fn", "float8_e5m2", "complex64", "complex128",
    };

    /// <summary>What PyTorch checkpoints (torch.save items, DCP .metadata, Megatron common state / legacy files) use.</summary>
    public static PickleAllowList Torch { get; } = new(
        new[]
        {
            "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter",
            "torch.Size", "torch.device", "torch.serialization._get_layout", "torch.strided",
            "collections.OrderedDict", "builtins.set", "builtins.frozenset", "builtins.slice", "builtins.complex",
            "_codecs.encode", "copyreg._reconstructor", "builtins.object",
            "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.PurePosixPath", "pathlib.Path",
            "argparse.Namespace", "types.SimpleNamespace", "io.BytesIO",
            "torch.distributed.checkpoint.filesystem._StorageInfo",
            "torch.distributed.checkpoint.filesystem._StoragePrefix",
            // torch 1.13 kept DCP under torch.distributed._shard (its .metadata files name these); Python 3.11+ pickles
            // an enum member (TensorProperties' memory format) as getattr(EnumClass, "NAME"). Nothing is called: the
            // reader turns both into inert records.
            "torch.distributed._shard.checkpoint.filesystem._StorageInfo",
            "torch.distributed._shard.sharded_tensor.metadata.TensorProperties",
            "torch.distributed._shard.sharded_tensor.metadata.MEM_FORMAT_ENCODING",
            "builtins.getattr",
            "megatron.core.dist_checkpointing.strategies.torch.MCoreSavePlan",
            "megatron.core.dist_checkpointing.strategies.torch.MCoreMetadata",
            // numpy state inside legacy rng_state (kept opaque, never reconstructed)
            "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype",
            "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
        }
        .Concat(TorchDtypeNames.Select(n => "torch." + n))
        .Concat(TorchStorageNames.Select(n => "torch." + n)),
        new[] { "torch.distributed.checkpoint.metadata", "torch.distributed.checkpoint.planner", "torch.distributed._shard.checkpoint.metadata" });

}
