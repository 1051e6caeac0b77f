using System.Text.RegularExpressions;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>
/// Writes a Hugging Face checkpoint folder from a <see cref="SafetensorsShardPlan"/>: every shard through a
/// <see cref="SafetensorsWriter"/> under a temporary name, then, at <see cref="Commit"/>, the shards renamed into
/// place and the index written last (itself through a temporary name). A crash at any point leaves no folder that
/// opens as a finished checkpoint of mixed content. Sinks may be written from several threads.
/// </summary>
internal sealed partial class SafetensorsCheckpointWriter : IDisposable
{
    private readonly Dictionary<string, SafetensorsWriter> _writerOf = new(StringComparer.Ordinal);
    private readonly List<SafetensorsWriter> _writers = new();
    private readonly SafetensorsCheckpointWriteOptions _options;
    private readonly Lock _gate = new();
    private SafetensorsWriter? _lastWritten;
    private bool _committed;

    private SafetensorsCheckpointWriter(string folder, SafetensorsShardPlan plan, SafetensorsCheckpointWriteOptions options)
    {
        Folder = folder;
        Plan = plan;
        _options = options;
    }

    public string Folder { get; }
    public SafetensorsShardPlan Plan { get; }

    public static SafetensorsCheckpointWriter Create(string folder, SafetensorsShardPlan plan, SafetensorsCheckpointWriteOptions? options = null)
    {
        options ??= SafetensorsCheckpointWriteOptions.Default;
        Directory.CreateDirectory(folder);
        var indexPath = Path.Combine(folder, SafetensorsCheckpoint.IndexFileName);
        var singlePath = Path.Combine(folder, SafetensorsCheckpoint.SingleFileName);
        if (File.Exists(indexPath) || File.Exists(singlePath))
        {
            if (!options.Overwrite)
                throw new IOException($"{folder}: already holds a checkpoint ({SafetensorsCheckpoint.IndexFileName} or {SafetensorsCheckpoint.SingleFileName}); refusing to overwrite it");
        }
        var writer = new SafetensorsCheckpointWriter(folder, plan, options);
        try
        {
            foreach (var shard in plan.Shards)
            {
                var w = SafetensorsWriter.Create(Path.Combine(folder, shard.FileName), shard.Tensors, options.File);
                writer._writers.Add(w);
                foreach (var t in shard.Tensors) writer._writerOf[t.Name] = w;
            }
            return writer;
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>Where the bytes of tensor <paramref name="name"/> go (offsets relative to the tensor's data).</summary>
    public ITensorSink Sink(string name)
    {
        var writer = WriterOf(name);
        return new TensorSink(this, writer, writer.Sink(name));
    }

    /// <summary>Writes a whole tensor.</summary>
    public void WriteTensor(string name, ReadOnlySpan<byte> data)
    {
        var writer = WriterOf(name);
        SwitchTo(writer);
        writer.WriteTensor(name, data);
    }

    /// <summary>Copies every planned tensor from a source holding tensors of the same names, types and shapes.</summary>
    public void CopyFrom(ITensorSource source, int bufferBytes = 16 << 20)
    {
        foreach (var w in _writers)
        {
            SwitchTo(w);
            w.CopyFrom(source, bufferBytes);
        }
    }

    /// <summary>Checks every tensor is complete, renames the shards into place, writes the index, removes stale shards.</summary>
    public void Commit()
    {
        if (_committed) throw new InvalidOperationException($"{Folder}: already committed");
        // All complete before the first rename: a refused commit leaves nothing in place.
        foreach (var w in _writers) w.CheckComplete();
        // The old index goes before any shard is renamed: until the new index exists the folder opens either as the
        // old single file or not at all, never as old and new shards mixed.
        var indexPath = Path.Combine(Folder, SafetensorsCheckpoint.IndexFileName);
        File.Delete(indexPath);
        foreach (var w in _writers) w.Commit();
        if (Plan.WritesIndex)
        {
            long? totalParameters = _options.TotalParameters switch
            {
                null => Plan.TotalParameters,
                < 0 => null,
                var n => n,
            };
            var weightMap = Plan.Shards.SelectMany(s => s.Tensors.Select(t => new KeyValuePair<string, string>(t.Name, s.FileName)));
            WriteFileAtomically(indexPath, SafetensorsIndex.Format(weightMap, Plan.TotalSize, totalParameters), _options.File.FlushToDisk);
        }
        RemoveStaleShards();
        _committed = true;
    }

    /// <summary>Abandons an uncommitted write: every temporary shard file is deleted.</summary>
    public void Dispose()
    {
        foreach (var w in _writers) w.Dispose();
    }

    private SafetensorsWriter WriterOf(string name) =>
        _writerOf.TryGetValue(name, out var w)
            ? w
            : throw new KeyNotFoundException($"{Folder}: the checkpoint being written has no tensor named '{name}'");

    /// <summary>Only the shard written last keeps a merge buffer: memory stays bounded whatever the shard count.</summary>
    private void SwitchTo(SafetensorsWriter writer)
    {
        lock (_gate)
        {
            if (_lastWritten != null && _lastWritten != writer) _lastWritten.Flush();
            _lastWritten = writer;
        }
    }

    /// <summary>Files named like transformers' shards (or model.safetensors) that the new plan does not contain.</summary>
    private void RemoveStaleShards()
    {
        var keep = new HashSet<string>(Plan.Shards.Select(s => s.FileName), StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFiles(Folder))
        {
            var name = Path.GetFileName(path);
            if (keep.Contains(name)) continue;
            if (name == SafetensorsCheckpoint.SingleFileName || ShardNamePattern().IsMatch(name)) File.Delete(path);
        }
    }

    internal static void WriteFileAtomically(string path, ReadOnlySpan<byte> content, bool flushToDisk)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(folder, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.partial");
        try
        {
            using (var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write))
            {
                RandomAccess.Write(handle, content, 0);
                if (flushToDisk) RandomAccess.FlushToDisk(handle);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    [GeneratedRegex(@"^model-\d{5,}-of-\d{5,}\.safetensors$")]
    private static partial Regex ShardNamePattern();

    private sealed class TensorSink(SafetensorsCheckpointWriter owner, SafetensorsWriter writer, ITensorSink inner) : ITensorSink
    {
        public void Write(long byteOffset, ReadOnlySpan<byte> data)
        {
            owner.SwitchTo(writer);
            inner.Write(byteOffset, data);
        }
    }
}
