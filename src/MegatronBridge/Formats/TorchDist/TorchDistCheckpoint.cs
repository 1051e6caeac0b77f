using System.Buffers;
using System.Text.Json;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using Microsoft.Win32.SafeHandles;

namespace MegatronBridge.Formats.TorchDist;

/// <summary>
/// A torch_dist (PyTorch DCP) checkpoint folder read without Python. Every tensor key is exposed at its full global
/// shape; <see cref="Read"/> assembles any byte range from whatever chunk grid was saved, across all
/// <c>__&lt;rank&gt;_&lt;n&gt;.distcp</c> files, reading only the bytes needed (runs that are contiguous in a chunk are
/// fetched with one read). Bytes objects and the Megatron common state are unpickled with the allow-listed reader.
/// </summary>
internal sealed class TorchDistCheckpoint : ITensorSource, IDisposable
{
    private const int ScatterBufferBytes = 4 << 20;

    private readonly Dictionary<string, DcpTensorEntry> _tensors = new(StringComparer.Ordinal);
    private readonly List<TensorMeta> _metas = new();
    private readonly Dictionary<string, DcpStorageInfo> _storage = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SafeFileHandle> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TorchTensorRef> _chunkData = new(StringComparer.Ordinal);
    private readonly Dictionary<string, object?> _objects = new(StringComparer.Ordinal);
    private readonly object _lock = new();
    private PyDict? _commonState;
    private bool _commonStateLoaded;

    private TorchDistCheckpoint(string folder, DcpMetadata metadata, bool isTorchDist, long? folderIteration, bool isRelease)
    {
        Folder = folder;
        Metadata = metadata;
        IsTorchDist = isTorchDist;
        FolderIteration = folderIteration;
        IsRelease = isRelease;
    }

    /// <summary>The folder holding <c>.metadata</c>.</summary>
    public string Folder { get; }
    public string Description => Folder;
    public DcpMetadata Metadata { get; }

    /// <summary>True when <c>metadata.json</c> says <c>torch_dist</c> (Megatron); false for a plain DCP folder.</summary>
    public bool IsTorchDist { get; }

    /// <summary>The iteration named by the tracker or the folder name; null when neither says.</summary>
    public long? FolderIteration { get; }
    public bool IsRelease { get; }

    /// <summary>The common state's <c>iteration</c> when it has one, else <see cref="FolderIteration"/>.</summary>
    public long? Iteration => CommonState != null && CommonState.TryGet("iteration", out var it) && it is long l ? l : FolderIteration;

    public IReadOnlyList<TensorMeta> Tensors => _metas;
    public IReadOnlyList<DcpTensorEntry> TensorEntries => _tensorEntries;

    private readonly List<DcpTensorEntry> _tensorEntries = new();

    /// <summary>Unique keys of the bytes objects (ShardedObjects such as <c>_extra_state</c>, <c>common_state</c>).</summary>
    public IReadOnlyList<string> ObjectKeys => _objectKeys;

    private readonly List<string> _objectKeys = new();
    private readonly HashSet<string> _objectKeySet = new(StringComparer.Ordinal);

    /// <summary>
    /// Opens a checkpoint: a Megatron root with a tracker, an <c>iter_XXXXXXX</c>/<c>release</c> folder, or any folder
    /// holding <c>.metadata</c>.
    /// </summary>
    public static TorchDistCheckpoint Open(string path)
    {
        var location = File.Exists(Path.Combine(path, TorchDistWriter.MetadataFileName))
            && !File.Exists(Path.Combine(path, MegatronCheckpointFolder.TrackerFileName))
            ? ResolveDirect(path)
            : MegatronCheckpointFolder.Resolve(path);
        var folder = location.Folder;
        var metadataPath = Path.Combine(folder, TorchDistWriter.MetadataFileName);
        if (!File.Exists(metadataPath)) throw new FileNotFoundException($"{folder}: no {TorchDistWriter.MetadataFileName} file; not a torch_dist / DCP checkpoint");
        MegatronBridge.IO.InputFile.EnsureRegular(metadataPath);
        var metadata = DcpMetadataPickle.Parse(File.ReadAllBytes(metadataPath), metadataPath);
        var checkpoint = new TorchDistCheckpoint(folder, metadata, ReadBackend(folder), location.Iteration, location.IsRelease);
        try
        {
            checkpoint.Index(metadataPath);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
        return checkpoint;
    }

    private static MegatronIterationFolder ResolveDirect(string path)
    {
        try
        {
            return MegatronCheckpointFolder.Resolve(path);
        }
        catch (InvalidInputException)
        {
            return new MegatronIterationFolder(Path.GetFullPath(path), null, false);
        }
    }

    private static bool ReadBackend(string folder)
    {
        var path = Path.Combine(folder, TorchDistWriter.MetadataJsonFileName);
        if (!File.Exists(path)) return false;
        try
        {
            MegatronBridge.IO.InputFile.EnsureRegular(path);
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("sharded_backend", out var backend)
                && backend.ValueKind == JsonValueKind.String
                && backend.GetString() == "torch_dist";
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    private static string ChunkKey(string fqn, long[]? offsets) => offsets == null ? fqn : fqn + "\n" + string.Join(",", offsets);

    private void Index(string metadataPath)
    {
        foreach (var item in Metadata.StorageData)
        {
            var rel = item.Info.RelativePath;
            if (rel.Length == 0 || rel != Path.GetFileName(rel) || rel is "." or ".." || rel.Contains('\\') || rel.Contains('/'))
                throw new InvalidInputException($"{metadataPath}: storage file name '{rel}' of '{item.Key.Fqn}' is not a plain file name");
            var key = ChunkKey(item.Key.Fqn, item.Key.Offset);
            if (!_storage.TryAdd(key, item.Info)) throw new InvalidInputException($"{metadataPath}: item '{item.Key.Fqn}' {(item.Key.Offset == null ? "" : "at (" + string.Join(", ", item.Key.Offset) + ")")} is stored twice");
        }

        // Items must lie inside their files and must not overlap each other.
        foreach (var group in Metadata.StorageData.GroupBy(s => s.Info.RelativePath))
        {
            var length = FileLength(group.Key, metadataPath);
            long end = 0;
            foreach (var item in group.OrderBy(s => s.Info.Offset))
            {
                if (item.Info.Offset + item.Info.Length > length)
                    throw new InvalidInputException($"{Path.Combine(Folder, group.Key)}: item '{item.Key.Fqn}' [{item.Info.Offset}, {item.Info.Offset + item.Info.Length}) runs past the end of the file ({length} bytes)");
                if (item.Info.Offset < end)
                    throw new InvalidInputException($"{Path.Combine(Folder, group.Key)}: item '{item.Key.Fqn}' overlaps the previous item");
                end = item.Info.Offset + item.Info.Length;
            }
        }

        foreach (var entry in Metadata.Entries)
        {
            switch (entry)
            {
                case DcpTensorEntry t:
                    var problem = ChunkTiling.Problem(t.Size, t.Chunks.Select(c => (c.Offsets, c.Sizes)).ToList());
                    if (problem != null) throw new InvalidInputException($"{metadataPath}: tensor '{t.Fqn}': {problem}");
                    foreach (var c in t.Chunks)
                    {
                        if (!_storage.ContainsKey(ChunkKey(t.Fqn, c.Offsets)))
                            throw new InvalidInputException($"{metadataPath}: tensor '{t.Fqn}' chunk at ({string.Join(", ", c.Offsets)}) has no storage_data entry");
                    }
                    if (!_tensors.TryAdd(t.Fqn, t)) throw new InvalidInputException($"{metadataPath}: tensor '{t.Fqn}' listed twice");
                    _metas.Add(new TensorMeta(t.Fqn, t.DType, t.Shape));
                    _tensorEntries.Add(t);
                    break;
                case DcpBytesEntry b:
                    if (!_storage.ContainsKey(ChunkKey(b.Fqn, null)))
                        throw new InvalidInputException($"{metadataPath}: object '{b.Fqn}' has no storage_data entry");
                    if (!_objectKeySet.Add(b.Fqn)) throw new InvalidInputException($"{metadataPath}: object '{b.Fqn}' listed twice");
                    _objectKeys.Add(b.Fqn);
                    break;
            }
        }
    }

    private long FileLength(string relativePath, string metadataPath)
    {
        var handle = FileHandle(relativePath, metadataPath);
        return RandomAccess.GetLength(handle);
    }

    private SafeFileHandle FileHandle(string relativePath, string? context = null)
    {
        lock (_lock)
        {
            if (_files.TryGetValue(relativePath, out var h)) return h;
            var path = Path.Combine(Folder, relativePath);
            if (!File.Exists(path)) throw new FileNotFoundException($"{context ?? Folder}: data file {path} is missing");
            // Normal kernel readahead: export reads each tensor's bytes in order, often in many small pieces (experts).
            MegatronBridge.IO.InputFile.EnsureRegular(path);
            h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            _files[relativePath] = h;
            return h;
        }
    }

    public bool TryGet(string name, out TensorMeta meta)
    {
        if (_tensors.TryGetValue(name, out var t))
        {
            meta = new TensorMeta(t.Fqn, t.DType, t.Shape);
            return true;
        }
        meta = null!;
        return false;
    }

    public DcpTensorEntry GetEntry(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new InvalidInputException($"{Folder}: no tensor named '{name}'");

    /// <summary>The saved chunk, opened and checked against the metadata (dtype, shape, contiguity) on first use.</summary>
    private TorchTensorRef Chunk(DcpTensorEntry entry, DcpChunk chunk)
    {
        var key = ChunkKey(entry.Fqn, chunk.Offsets);
        lock (_lock)
        {
            if (_chunkData.TryGetValue(key, out var cached)) return cached;
        }
        var info = _storage[key];
        var path = Path.Combine(Folder, info.RelativePath);
        var archive = TorchZipArchive.Open(FileHandle(info.RelativePath), path, info.Offset, info.Length);
        var what = $"{archive.Source}: chunk of '{entry.Fqn}' at ({string.Join(", ", chunk.Offsets)})";
        if (TorchLoad.Load(archive) is not TorchTensorRef tensor) throw new InvalidInputException($"{what} does not hold a tensor");
        if (tensor.DType != entry.DType)
            throw new InvalidInputException($"{what} holds {tensor.DType.TorchName()}, the metadata says {entry.DType.TorchName()}");
        if (!tensor.Shape.SequenceEqual(chunk.Sizes))
            throw new InvalidInputException($"{what} has shape ({string.Join(", ", tensor.Shape)}), the metadata says ({string.Join(", ", chunk.Sizes)})");
        if (!tensor.IsContiguous) throw new InvalidInputException($"{what} is not contiguous");
        lock (_lock) _chunkData[key] = tensor;
        return tensor;
    }

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        var entry = GetEntry(name);
        var es = entry.DType.Size();
        var totalBytes = checked(entry.Shape.NumElements * es);
        if (byteOffset < 0 || byteOffset + destination.Length > totalBytes)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{Folder}: read [{byteOffset}, {byteOffset + destination.Length}) past the end of '{name}' ({totalBytes} bytes)");
        if (destination.Length == 0) return;
        var globalStrides = entry.Shape.ContiguousStrides();
        foreach (var chunk in entry.Chunks)
        {
            if (chunk.NumElements == 0) continue;
            ReadFromChunk(entry, chunk, globalStrides, es, byteOffset, destination);
        }
    }

    /// <summary>
    /// Copies the part of [byteOffset, byteOffset + destination.Length) of the global tensor that lies in this chunk.
    /// The chunk is a set of "runs": maximal pieces contiguous both in the chunk's data and in the global tensor.
    /// </summary>
    private void ReadFromChunk(DcpTensorEntry entry, DcpChunk chunk, long[] globalStrides, int es, long byteOffset, Span<byte> destination)
    {
        int rank = entry.Size.Length;
        // Axis k: the runs span chunk axes k..rank-1, where all axes after k are full in the chunk.
        int k = rank - 1;
        while (k > 0 && chunk.Sizes[k] == entry.Size[k]) k--;
        long runElements = rank == 0 ? 1 : chunk.Sizes[k] * (k + 1 < rank ? globalStrides[k] : 1);
        long runBytes = runElements * es;
        long runCount = 1;
        for (int d = 0; d < k; d++) runCount *= chunk.Sizes[d];

        long rangeStart = byteOffset, rangeEnd = byteOffset + destination.Length;
        long RunStart(long r)
        {
            long start = 0, rem = r;
            for (int d = k - 1; d >= 0; d--)
            {
                long idx = rem % chunk.Sizes[d];
                rem /= chunk.Sizes[d];
                start += (chunk.Offsets[d] + idx) * globalStrides[d];
            }
            if (rank > 0) start += chunk.Offsets[k] * globalStrides[k];
            return start * es;
        }

        // First run ending after rangeStart (run starts increase with r).
        long lo = 0, hi = runCount;
        while (lo < hi)
        {
            long mid = (lo + hi) / 2;
            if (RunStart(mid) + runBytes <= rangeStart) lo = mid + 1;
            else hi = mid;
        }
        if (lo >= runCount || RunStart(lo) >= rangeEnd) return;

        var tensor = Chunk(entry, chunk);
        if (runBytes >= ScatterBufferBytes / 4)
        {
            // Long runs: read each intersection straight into the destination.
            for (long r = lo; r < runCount; r++)
            {
                long s = RunStart(r);
                if (s >= rangeEnd) break;
                long a = Math.Max(s, rangeStart), b = Math.Min(s + runBytes, rangeEnd);
                if (a < b) tensor.Read(r * runBytes + (a - s), destination.Slice((int)(a - rangeStart), (int)(b - a)));
            }
            return;
        }

        // Short runs (e.g. a row-parallel split on the last axis): read many consecutive runs at once and scatter.
        long runsPerRead = Math.Max(1, ScatterBufferBytes / runBytes);
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(runsPerRead * runBytes, ScatterBufferBytes));
        try
        {
            long r = lo;
            while (r < runCount && RunStart(r) < rangeEnd)
            {
                long last = r;
                while (last + 1 < runCount && last + 1 - r < runsPerRead && RunStart(last + 1) < rangeEnd) last++;
                var span = buffer.AsSpan(0, (int)((last - r + 1) * runBytes));
                tensor.Read(r * runBytes, span);
                for (long q = r; q <= last; q++)
                {
                    long s = RunStart(q);
                    long a = Math.Max(s, rangeStart), b = Math.Min(s + runBytes, rangeEnd);
                    if (a < b) span.Slice((int)((q - r) * runBytes + (a - s)), (int)(b - a)).CopyTo(destination.Slice((int)(a - rangeStart)));
                }
                r = last + 1;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Opens every item now (normally done on first use): each chunk's archive and data.pkl must hold a contiguous
    /// tensor of the metadata's dtype and chunk shape, each object must unpickle with the allow-list.
    /// Returns the number of items checked.
    /// </summary>
    public int ValidateAllItems()
    {
        int count = 0;
        foreach (var entry in _tensorEntries)
        {
            foreach (var chunk in entry.Chunks)
            {
                Chunk(entry, chunk);
                count++;
            }
        }
        foreach (var key in _objectKeys)
        {
            GetObject(key);
            count++;
        }
        return count;
    }

    /// <summary>The unpickled value of a bytes object (for Megatron ShardedObjects: a list holding the object).</summary>
    public object? GetObject(string uniqueKey)
    {
        lock (_lock)
        {
            if (_objects.TryGetValue(uniqueKey, out var cached)) return cached;
        }
        if (!_storage.TryGetValue(ChunkKey(uniqueKey, null), out var info) || !_objectKeySet.Contains(uniqueKey))
            throw new InvalidInputException($"{Folder}: no object named '{uniqueKey}'");
        var archive = TorchZipArchive.Open(FileHandle(info.RelativePath), Path.Combine(Folder, info.RelativePath), info.Offset, info.Length);
        var value = TorchLoad.Load(archive);
        lock (_lock) _objects[uniqueKey] = value;
        return value;
    }

    /// <summary>
    /// Megatron's common (non-tensor) state: <c>common.pt</c> when present (megatron-core ≤ 0.18), else element 0
    /// of the <c>common_state/shard_0_1</c> object; null when the checkpoint has neither.
    /// </summary>
    public PyDict? CommonState
    {
        get
        {
            if (_commonStateLoaded) return _commonState;
            var commonPt = Path.Combine(Folder, "common.pt");
            object? value = null;
            if (File.Exists(commonPt)) value = TorchLoad.LoadFile(commonPt);
            else if (_objectKeySet.Contains(CommonStateKey)) value = GetObject(CommonStateKey) is List<object?> { Count: > 0 } list ? list[0] : null;
            else
            {
                _commonStateLoaded = true;
                return null;
            }
            _commonState = value as PyDict ?? throw new InvalidInputException($"{Folder}: the common state is not a dict ({PyFormat.Repr(value)})");
            _commonStateLoaded = true;
            return _commonState;
        }
    }

    public const string CommonStateKey = "common_state/shard_0_1";

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var h in _files.Values) h.Dispose();
            _files.Clear();
        }
    }
}
