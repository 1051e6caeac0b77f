using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchDist;

/// <summary>
/// One saved chunk of a global tensor: offsets and sizes in the global tensor, a producer writing the chunk's
/// row-major bytes (sizes include any prepended length-1 axes), and the optional storage index hint of
/// storage_data (Megatron writes 0, 1, ... only for keys one rank held as several non-prepended shards).
/// </summary>
internal sealed record TorchDistChunk(long[] Offsets, long[] Sizes, Action<ITensorSink> WriteData, long? StorageIndex = null)
{
    /// <summary>
    /// The rank whose data file <c>__{rank}_0.distcp</c> holds this chunk, as when many training processes save in
    /// parallel; 0 (the single-writer file) by default.
    /// </summary>
    public int WriterRank { get; init; }

    /// <summary>The writer thread of that rank (the <c>n</c> of <c>__{rank}_{n}.distcp</c>); 0 by default.</summary>
    public int WriterThread { get; init; }
}

/// <summary>
/// Writes a Megatron-Core torch_dist checkpoint folder the way megatron-core's single-writer save does
/// (docs/formats.md, torch_dist checkpoints): <c>__0_0.distcp</c> (all bytes objects first, then tensor chunks, each
/// a torch.save archive, streamed), then <c>.metadata</c> (pickle protocol 4, via a temporary name and a rename), then
/// <c>metadata.json</c>. Entries appear in <c>.metadata</c> in the order they were added. The writer knows nothing
/// about models.
/// </summary>
internal sealed class TorchDistWriter
{
    public const string DataFileName = "__0_0.distcp";

    /// <summary>The data file rank <paramref name="rank"/> writes: <c>__{rank}_0.distcp</c>.</summary>
    public static string DataFileNameOf(int rank, int thread = 0) =>
        rank >= 0 && thread >= 0
            ? $"__{rank.ToString(System.Globalization.CultureInfo.InvariantCulture)}_{thread.ToString(System.Globalization.CultureInfo.InvariantCulture)}.distcp"
            : throw new ArgumentOutOfRangeException(nameof(rank), "negative writer rank or thread");
    public const string MetadataFileName = ".metadata";
    public const string MetadataJsonFileName = "metadata.json";
    public const string MetadataJson = "{\"sharded_backend\": \"torch_dist\", \"sharded_backend_version\": 1}";

    private readonly string _directory;
    private readonly List<object> _entries = new(); // TensorEntry or ObjectEntry, in state_dict order
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);

    private sealed record TensorEntry(string Fqn, DType DType, long[] Shape, IReadOnlyList<TorchDistChunk> Chunks);
    private sealed record ObjectEntry(string Key, List<object?> Values);

    public TorchDistWriter(string directory) => _directory = directory;

    /// <summary>StorageMeta.checkpoint_id; Megatron writes the directory string as given (the default).</summary>
    public string? CheckpointId { get; set; }

    /// <summary>StorageMeta.save_id; a fresh uuid4 unless set (tests fix it to compare bytes).</summary>
    public string? SaveId { get; set; }

    /// <summary>
    /// When set, also written as <c>common.pt</c> (torch.save of the dict, archive name <c>common</c>), which
    /// megatron-core ≤ 0.18 requires; newer versions prefer it over the <c>common_state</c> object when present.
    /// </summary>
    public PyDict? CommonPt { get; set; }

    /// <summary>Adds a global tensor saved as the given chunks, which must tile <paramref name="globalShape"/> exactly.</summary>
    public void AddTensor(string fqn, DType dtype, long[] globalShape, IReadOnlyList<TorchDistChunk> chunks)
    {
        AddKey(fqn);
        ValidateTiling(fqn, globalShape, chunks);
        _entries.Add(new TensorEntry(fqn, dtype, (long[])globalShape.Clone(), chunks.ToList()));
    }

    /// <summary>Adds a tensor saved as one chunk covering all of it.</summary>
    public void AddTensor(string fqn, DType dtype, long[] shape, Action<ITensorSink> writeData) =>
        AddTensor(fqn, dtype, shape, new[] { new TorchDistChunk(new long[shape.Length], shape, writeData) });

    /// <summary>
    /// Adds a bytes object (a Megatron ShardedObject under its unique key, e.g. "x._extra_state/shard_0_1" or
    /// "common_state/shard_0_1"): the item is torch.save(list(values)), values being PyValues / TorchTensorValue.
    /// </summary>
    public void AddObject(string uniqueKey, IEnumerable<object?> values)
    {
        AddKey(uniqueKey);
        _entries.Add(new ObjectEntry(uniqueKey, values.ToList()));
    }

    /// <summary>The value TransformerEngine returns as <c>_extra_state</c> without FP8: an empty uint8 tensor.</summary>
    public static TorchTensorValue EmptyUInt8Tensor() => TorchTensorValue.FromBytes(DType.U8, new long[] { 0 }, Array.Empty<byte>());

    private void AddKey(string key)
    {
        if (string.IsNullOrEmpty(key)) throw new ArgumentException("empty checkpoint key");
        if (!_keys.Add(key)) throw new ArgumentException($"checkpoint key '{key}' added twice");
    }

    private static void ValidateTiling(string fqn, long[] shape, IReadOnlyList<TorchDistChunk> chunks)
    {
        if (chunks.Count == 0) throw new ArgumentException($"tensor '{fqn}' has no chunks");
        var problem = ChunkTiling.Problem(shape, chunks.Select(c => (c.Offsets, c.Sizes)).ToList());
        if (problem != null) throw new ArgumentException($"tensor '{fqn}': {problem}");
    }

    /// <summary>Writes the data file, then <c>.metadata</c>, then <c>metadata.json</c>; returns the metadata written.</summary>
    public DcpMetadata Write()
    {
        Directory.CreateDirectory(_directory);
        var metadata = new DcpMetadata { CheckpointId = CheckpointId ?? _directory, SaveId = SaveId ?? Guid.NewGuid().ToString() };
        foreach (var e in _entries)
        {
            metadata.Entries.Add(e switch
            {
                TensorEntry t => new DcpTensorEntry(t.Fqn, t.DType, t.Shape, t.Chunks.Select(c => new DcpChunk(c.Offsets, c.Sizes)).ToList()),
                ObjectEntry o => new DcpBytesEntry(o.Key),
                _ => throw new InvalidOperationException(),
            });
        }

        var tensorEntries = _entries.OfType<TensorEntry>().ToList();
        var writers = tensorEntries.SelectMany(t => t.Chunks).Select(c => (c.WriterRank, c.WriterThread)).Append((0, 0)).Distinct().Order().ToList();
        foreach (var (rank, thread) in writers)
        {
            var fileName = DataFileNameOf(rank, thread);
            var items = new List<(DcpStorageKey Key, PreparedTorchSave Item)>();
            if ((rank, thread) == (0, 0))
            {
                foreach (var o in _entries.OfType<ObjectEntry>())
                    items.Add((new DcpStorageKey(o.Key, null, null), TorchSave.Prepare(o.Values)));
            }
            foreach (var t in tensorEntries)
            {
                foreach (var c in t.Chunks.Where(c => c.WriterRank == rank && c.WriterThread == thread))
                    items.Add((new DcpStorageKey(t.Fqn, c.Offsets, c.StorageIndex), TorchSave.Prepare(new TorchTensorValue(t.DType, c.Sizes, c.WriteData))));
            }
            long offset = 0;
            foreach (var (key, item) in items)
            {
                metadata.StorageData.Add(new DcpStorageItem(key, new DcpStorageInfo(fileName, offset, item.Length)));
                offset += item.Length;
            }
            WriteDataFile(Path.Combine(_directory, fileName), items.Select(i => i.Item).ToList(), offset);
        }

        if (CommonPt != null) TorchSave.WriteFile(Path.Combine(_directory, "common.pt"), CommonPt);

        var tmp = Path.Combine(_directory, MetadataFileName + ".tmp");
        File.WriteAllBytes(tmp, DcpMetadataPickle.Serialize(metadata));
        File.Move(tmp, Path.Combine(_directory, MetadataFileName), overwrite: true);
        File.WriteAllText(Path.Combine(_directory, MetadataJsonFileName), MetadataJson);
        return metadata;
    }

    /// <summary>How many regions of a data file are written at the same time (each is sequential within itself).</summary>
    public int ParallelRegions { get; set; } = BoundedParallel.DefaultDegree;

    /// <summary>
    /// Writes the items back to back. Every item's size is known before its data is produced, so the file is cut into
    /// a few contiguous regions of about equal bytes, written at once, each by one sequential writer: the same bytes
    /// as one writer, with the disk and the kernel's copies kept busy (memory: two executor buffers per region).
    /// </summary>
    private void WriteDataFile(string path, IReadOnlyList<PreparedTorchSave> items, long totalBytes)
    {
        var regions = new List<(long Start, List<PreparedTorchSave> Items)>();
        long start = 0;
        foreach (var run in BoundedParallel.ContiguousRuns(items, i => i.Length, ParallelRegions))
        {
            regions.Add((start, run));
            start += run.Sum(i => i.Length);
        }
        using (var create = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None)) create.SetLength(totalBytes);
        BoundedParallel.ForEach(regions, regions.Count, region =>
        {
            using var data = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1 << 20);
            data.Position = region.Start;
            foreach (var item in region.Items) item.WriteTo(data);
            data.Flush(flushToDisk: true);
        });
    }
}
