using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchDist;

/// <summary>One chunk of a global tensor as saved: its offsets in the global tensor and its sizes.</summary>
internal sealed record DcpChunk(long[] Offsets, long[] Sizes)
{
    public long NumElements => Sizes.Aggregate(1L, (a, b) => checked(a * b));
    public override string ToString() => $"offsets ({string.Join(", ", Offsets)}) sizes ({string.Join(", ", Sizes)})";
}

/// <summary>A state_dict_metadata entry: a tensor (TensorStorageMetadata) or a bytes object (BytesStorageMetadata).</summary>
internal abstract record DcpEntry(string Fqn);

internal sealed record DcpTensorEntry(string Fqn, DType DType, long[] Size, IReadOnlyList<DcpChunk> Chunks) : DcpEntry(Fqn)
{
    public TensorShape Shape => new(Size);
}

internal sealed record DcpBytesEntry(string Fqn) : DcpEntry(Fqn);

/// <summary>A storage_data key (MetadataIndex): fqn, chunk offsets (null for bytes items) and the optional index hint.</summary>
internal sealed record DcpStorageKey(string Fqn, long[]? Offset, long? Index);

/// <summary>Where an item lives (filesystem _StorageInfo): file name inside the checkpoint folder, byte offset, length.</summary>
internal sealed record DcpStorageInfo(string RelativePath, long Offset, long Length);

internal sealed record DcpStorageItem(DcpStorageKey Key, DcpStorageInfo Info);

/// <summary>The content of a DCP <c>.metadata</c> file, as far as a reader or writer needs it.</summary>
internal sealed class DcpMetadata
{
    public List<DcpEntry> Entries { get; } = new();

    /// <summary>storage_data in file order.</summary>
    public List<DcpStorageItem> StorageData { get; } = new();

    /// <summary>StorageMeta.checkpoint_id (str or PosixPath joined); null when absent.</summary>
    public string? CheckpointId { get; set; }

    /// <summary>StorageMeta.save_id; null when absent.</summary>
    public string? SaveId { get; set; }

    public bool HasStorageMeta { get; set; } = true;

    /// <summary>Metadata.version; null when absent (older torch).</summary>
    public string? Version { get; set; } = "1.0.0";
}
