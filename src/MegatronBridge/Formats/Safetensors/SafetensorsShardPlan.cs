using System.Globalization;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>One output file of a checkpoint and the tensors it holds (in the order they were assigned).</summary>
internal sealed record SafetensorsShard(string FileName, IReadOnlyList<TensorMeta> Tensors)
{
    public long ByteLength => Tensors.Sum(t => t.ByteLength);
}

/// <summary>
/// Which file of a Hugging Face checkpoint folder each tensor goes to, and whether an index is written.
/// Pure planning: no file is touched.
/// </summary>
internal sealed class SafetensorsShardPlan
{
    private readonly Dictionary<string, string> _fileOf;

    private SafetensorsShardPlan(List<SafetensorsShard> shards, bool writesIndex)
    {
        Shards = shards;
        WritesIndex = writesIndex;
        _fileOf = new Dictionary<string, string>(StringComparer.Ordinal);
        var files = new HashSet<string>(StringComparer.Ordinal);
        foreach (var shard in shards)
        {
            if (!SafetensorsIndex.IsPlainFileName(shard.FileName))
                throw new ArgumentException($"shard name '{shard.FileName}' is not a plain file name");
            if (shard.FileName == SafetensorsCheckpoint.IndexFileName || !files.Add(shard.FileName))
                throw new ArgumentException($"shard name '{shard.FileName}' is used twice or clashes with the index");
            foreach (var t in shard.Tensors)
            {
                if (!_fileOf.TryAdd(t.Name, shard.FileName))
                    throw new ArgumentException($"tensor '{t.Name}' is listed twice");
            }
        }
        if (!writesIndex && (shards.Count != 1 || shards[0].FileName != SafetensorsCheckpoint.SingleFileName))
            throw new ArgumentException($"only a single {SafetensorsCheckpoint.SingleFileName} can do without an index");
        TotalSize = shards.Sum(s => s.ByteLength);
        TotalParameters = shards.Sum(s => s.Tensors.Sum(t => t.NumElements));
    }

    public IReadOnlyList<SafetensorsShard> Shards { get; }
    /// <summary>False only for a single model.safetensors.</summary>
    public bool WritesIndex { get; }
    /// <summary>Sum of all tensor byte lengths (the index's metadata.total_size).</summary>
    public long TotalSize { get; }
    /// <summary>Sum of all tensor element counts.</summary>
    public long TotalParameters { get; }
    /// <summary>Tensor name -> shard file name.</summary>
    public IReadOnlyDictionary<string, string> FileOf => _fileOf;

    /// <summary>
    /// Sharding as save_pretrained does it (huggingface_hub <c>split_state_dict_into_shards_factory</c>): tensors are
    /// taken in the given order; a tensor larger than the limit becomes a shard of its own right away (placed before
    /// the shard still being filled); otherwise a new shard starts when the next tensor would push the current one
    /// over the limit. One shard is written as model.safetensors without an index; more as
    /// model-00001-of-0000N.safetensors ... with an index.
    /// </summary>
    public static SafetensorsShardPlan BySize(IEnumerable<TensorMeta> tensors, long maxShardBytes)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), "the shard size limit must be positive");
        var groups = new List<List<TensorMeta>>();
        var current = new List<TensorMeta>();
        long currentBytes = 0;
        foreach (var t in tensors)
        {
            long size = t.ByteLength;
            if (size > maxShardBytes)
            {
                groups.Add([t]);
                continue;
            }
            if (currentBytes + size > maxShardBytes)
            {
                groups.Add(current);
                current = [];
                currentBytes = 0;
            }
            current.Add(t);
            currentBytes += size;
        }
        if (current.Count > 0 || groups.Count == 0) groups.Add(current);

        if (groups.Count == 1)
            return new SafetensorsShardPlan([new SafetensorsShard(SafetensorsCheckpoint.SingleFileName, groups[0])], writesIndex: false);
        var shards = new List<SafetensorsShard>(groups.Count);
        for (int i = 0; i < groups.Count; i++) shards.Add(new SafetensorsShard(ShardFileName(i + 1, groups.Count), groups[i]));
        return new SafetensorsShardPlan(shards, writesIndex: true);
    }

    /// <summary>
    /// An explicitly given layout (e.g. the source checkpoint's own index): every tensor goes to the file the layout
    /// names. Files come in order of first appearance. An index is written when <paramref name="alwaysWriteIndex"/>
    /// or unless everything goes to a single model.safetensors.
    /// </summary>
    public static SafetensorsShardPlan FromLayout(IEnumerable<TensorMeta> tensors, Func<string, string?> fileOf, bool alwaysWriteIndex = false)
    {
        var order = new List<string>();
        var byFile = new Dictionary<string, List<TensorMeta>>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            var file = fileOf(t.Name) ?? throw new ArgumentException($"the layout names no file for tensor '{t.Name}'");
            if (!byFile.TryGetValue(file, out var list))
            {
                byFile[file] = list = [];
                order.Add(file);
            }
            list.Add(t);
        }
        if (order.Count == 0) order.Add(SafetensorsCheckpoint.SingleFileName);
        bool writesIndex = alwaysWriteIndex || order.Count != 1 || order[0] != SafetensorsCheckpoint.SingleFileName;
        return new SafetensorsShardPlan(order.Select(f => new SafetensorsShard(f, byFile.TryGetValue(f, out var l) ? l : [])).ToList(), writesIndex);
    }

    public static SafetensorsShardPlan FromLayout(IEnumerable<TensorMeta> tensors, IReadOnlyDictionary<string, string> layout, bool alwaysWriteIndex = false) =>
        FromLayout(tensors, name => layout.TryGetValue(name, out var f) ? f : null, alwaysWriteIndex);

    /// <summary>
    /// The shard layout of an existing checkpoint applied to <paramref name="tensors"/> (same names; a tensor the
    /// checkpoint lacks is an error). Writes an index exactly when the checkpoint has one. When the checkpoint's files
    /// are numbered as save_pretrained numbers them (model-0000i-of-0000N) and some of them receive no tensor (a file
    /// that held only the left-out MTP tensors), the files written are renumbered 1..M of M in their original order:
    /// transformers' convention is that N is the number of files.
    /// </summary>
    public static SafetensorsShardPlan FromCheckpoint(IEnumerable<TensorMeta> tensors, SafetensorsCheckpoint layoutOf)
    {
        var list = tensors.ToList();
        string? Original(string name) => layoutOf.TryGet(name, out _) ? layoutOf.FileOf(name) : null;
        var renamed = Renumbered(layoutOf.Files.Select(f => Path.GetFileName(f.Path)).ToList(), list.Select(t => Original(t.Name)).OfType<string>());
        return FromLayout(list, name => Original(name) is { } file ? renamed.GetValueOrDefault(file, file) : null, alwaysWriteIndex: layoutOf.IndexPath != null);
    }

    /// <summary>
    /// New names for the <paramref name="used"/> files of a layout whose <paramref name="files"/> are exactly
    /// model-00001-of-0000N ... model-0000N-of-0000N: renumbered 1..M of M (M used files) in their original order. Empty
    /// (names kept) when every file is used or the files are named otherwise.
    /// </summary>
    internal static IReadOnlyDictionary<string, string> Renumbered(IReadOnlyList<string> files, IEnumerable<string> used)
    {
        var usedSet = used.ToHashSet(StringComparer.Ordinal);
        var numbered = files.ToHashSet(StringComparer.Ordinal);
        bool standard = numbered.Count == files.Count && Enumerable.Range(1, files.Count).All(i => numbered.Contains(ShardFileName(i, files.Count)));
        if (!standard || usedSet.Count >= files.Count || !usedSet.IsSubsetOf(numbered)) return new Dictionary<string, string>();
        var kept = Enumerable.Range(1, files.Count).Select(i => ShardFileName(i, files.Count)).Where(usedSet.Contains).ToList();
        return kept.Select((file, i) => KeyValuePair.Create(file, ShardFileName(i + 1, kept.Count))).ToDictionary(StringComparer.Ordinal);
    }

    /// <summary>"model-00002-of-00005.safetensors".</summary>
    public static string ShardFileName(int number, int count) =>
        string.Create(CultureInfo.InvariantCulture, $"model-{number:D5}-of-{count:D5}.safetensors");
}
