using System.Globalization;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// Reads a legacy per-rank <c>torch</c> checkpoint back as one tensor source of gathered shards, named as
/// <see cref="ExportPlan"/> expects (<see cref="ShardNames"/> of global names), and infers the parallel layout it was
/// saved with from its rank folders and tensor shapes. Both MTP inner-layer names and both expert modules (grouped GEMM
/// or sequential, per checkpoint and per prefix) are read, each under the mapping's name (<see cref="LegacyKeyNames"/>). Replicas are read once: non-expert tensors from EP rank 0,
/// expert shards from the first TP ranks that hold each expert-TP shard; the last stage's copies of the embedding and of
/// a tied output layer are left out.
/// </summary>
internal sealed class TorchLegacyExport : ITensorSource, IDisposable
{
    private readonly List<LegacyCheckpointFile> _files = new();
    private readonly Dictionary<string, (LegacyCheckpointFile File, string ModelKey, string LocalName, TensorMeta Meta)> _where = new(StringComparer.Ordinal);
    private readonly List<TensorMeta> _tensors = new();
    private readonly List<string> _skipped = new();
    private readonly List<LegacyReplica> _replicas = new();

    private TorchLegacyExport(string folder) => Description = folder;

    public string Description { get; }
    public IReadOnlyList<TensorMeta> Tensors => _tensors;
    public ParallelLayout Layout { get; private set; } = ParallelLayout.Single;

    /// <summary>Top-level keys that are not model state (args, optimizer, rng_state, ...), as <c>rank folder:key</c>.</summary>
    public IReadOnlyList<string> SkippedKeys => _skipped;

    /// <summary>
    /// The stored copies left out of <see cref="Tensors"/>: non-expert tensors on expert ranks other than 0, and the
    /// last pipeline stage's word embeddings / tied output layer. Each names the shard it must equal, so verify can
    /// check every stored byte.
    /// </summary>
    public IReadOnlyList<LegacyReplica> Replicas => _replicas;

    /// <summary>Reads bytes of a replica, as <see cref="Read"/> does for a shard.</summary>
    public void ReadReplica(LegacyReplica replica, long byteOffset, Span<byte> destination) =>
        replica.File.ReadChunk(replica.ModelKey, replica.LocalName, byteOffset, destination);

    public static TorchLegacyExport Open(ModelMapping model, string iterationFolder)
    {
        var source = new TorchLegacyExport(iterationFolder);
        try
        {
            source.Load(model, iterationFolder);
        }
        catch
        {
            source.Dispose();
            throw;
        }
        return source;
    }

    private void Load(ModelMapping model, string iterationFolder)
    {
        var folders = LegacyRankFolders.List(iterationFolder);
        var opened = new List<(LegacyRankFolder Folder, LegacyCheckpointFile File)>();
        foreach (var folder in folders)
        {
            var file = LegacyCheckpointFile.Open(folder.File, modelKey: null);
            _files.Add(file);
            opened.Add((folder, file));
            if (file.Args != null) _skipped.Add($"{folder.Name}:args");
            _skipped.AddRange(file.OtherStateKeys.Select(k => $"{folder.Name}:{k}"));
        }

        var provider = model.Provider;
        var (ppOf, epOf, pp, ep) = SplitSuffixes(model, opened, iterationFolder);
        int tp = folders.Select(f => f.TpRank).Max() + 1;
        CheckNoTensorRankMissing(opened, model.LanguagePrefix + "embedding.word_embeddings.weight", provider.VocabSize, tp, ppOf, iterationFolder);
        int vpp = VirtualChunks(opened[0].File);
        foreach (var (folder, file) in opened)
        {
            if (VirtualChunks(file) != vpp)
                throw new InvalidInputException($"{file.Description}: {file.ModelKeys.Count} model chunk(s) ({string.Join(", ", file.ModelKeys)}), other ranks have {vpp}");
        }
        int etp = ExpertTensorSize(model, opened, tp, pp, vpp, ep, ppOf, epOf);
        Layout = new ParallelLayout(tp, pp, vpp, ep, etp);
        Layout.Validate(provider.NumLayers, provider.NumExperts, iterationFolder);

        var naming = model.Naming(Layout);
        string embedding = model.LanguagePrefix + "embedding.word_embeddings.weight";
        string tiedOutput = model.LanguagePrefix + "output_layer.weight";
        foreach (var (folder, file) in opened)
        {
            int ppRank = ppOf(folder), epRank = epOf(folder);
            foreach (var key in file.ModelKeys)
            {
                int chunk = vpp == 1 ? 0 : int.TryParse(key.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int c) ? c
                    : throw new InvalidInputException($"{file.Description}: '{key}' names a virtual chunk past the int range");
                if (chunk >= vpp) throw new InvalidInputException($"{file.Description}: '{key}' but the checkpoint has {vpp} virtual chunk(s)");
                foreach (var local in file.ChunkTensors(key))
                {
                    if (local.Name.EndsWith(TorchLegacyImport.ExtraStateSuffix, StringComparison.Ordinal)) continue;
                    string global;
                    try
                    {
                        // Either MTP inner-layer name and either expert module (grouped or sequential) is read, under the mapping's names.
                        global = LegacyKeyNames.Normalize(naming.ToGlobal(local.Name, ppRank, chunk, epRank));
                    }
                    catch (ArgumentOutOfRangeException e)
                    {
                        throw new InvalidInputException($"{file.Description}: tensor '{local.Name}' in '{key}' does not fit layout {Layout}: {e.Message.Split(Environment.NewLine)[0]}");
                    }
                    bool expert = new MegatronParam(global, local.Shape).IsExpert;
                    if (expert ? folder.TpRank >= etp : epRank != 0)
                    {
                        // A copy on another expert rank; or, with etp < tp, an expert shard that TP rank r holds as expert-TP
                        // rank r % etp (as the import places it: TorchLegacyImport.ExpertTensorRank), a copy of that rank's.
                        _replicas.Add(new LegacyReplica(expert ? ShardNames.Of(global, TorchLegacyImport.ExpertTensorRank(new ParallelLayout(tp, pp, vpp, ep, etp), folder.TpRank), etp)
                            : ShardNames.Of(global, folder.TpRank, tp), file, key, local.Name, local));
                        continue;
                    }
                    if (ppRank != Layout.FirstStage && (global == embedding || (provider.ShareEmbeddingsAndOutputWeights && global == tiedOutput)))
                    {
                        // The last stage keeps the word embeddings (its tied output layer): a copy of the first stage's.
                        _replicas.Add(new LegacyReplica(ShardNames.Of(embedding, folder.TpRank, tp), file, key, local.Name, local));
                        continue;
                    }
                    var shard = ShardNames.Of(global, folder.TpRank, expert ? etp : tp);
                    if (_where.ContainsKey(shard))
                        throw new InvalidInputException($"{file.Description}: tensor '{local.Name}' in '{key}' is global '{global}', which another rank file also holds");
                    var meta = local with { Name = shard };
                    _where[shard] = (file, key, local.Name, meta);
                    _tensors.Add(meta);
                }
            }
        }
    }

    /// <summary>
    /// A deleted tensor-parallel rank folder (mp_rank_01 of a TP 2 checkpoint) makes the checkpoint look narrower than
    /// it was saved, and every later shape check would blame a tensor. Each TP rank holds a slice of the word embeddings
    /// (rows = padded vocabulary / TP), so when the slice times the TP ranks found cannot hold vocab_size, ranks are
    /// missing: say so, naming the folders found.
    /// </summary>
    private static void CheckNoTensorRankMissing(List<(LegacyRankFolder Folder, LegacyCheckpointFile File)> opened, string embedding,
        int vocabSize, int tp, Func<LegacyRankFolder, int> ppOf, string where)
    {
        foreach (var (folder, file) in opened.Where(o => ppOf(o.Folder) == 0))
        {
            var key = file.ModelKeys.FirstOrDefault();
            if (key == null) continue;
            var table = file.ChunkTensors(key).FirstOrDefault(t => t.Name == embedding);
            if (table == null || table.Shape.Rank != 2 || table.Shape[0] <= 0) continue;
            long rows = table.Shape[0];
            if (rows * tp >= vocabSize) return;
            long needed = (vocabSize + rows - 1) / rows;
            var found = string.Join(", ", opened.Select(o => o.Folder.Name).Distinct());
            throw new InvalidInputException(
                $"{where}: tensor-parallel rank folder(s) missing: {file.Description} holds {rows} rows of '{embedding}' and vocab_size is {vocabSize}, " +
                $"so the checkpoint was saved with at least {needed} tensor-parallel ranks, but only {tp} were found ({found})");
        }
    }

    /// <summary>
    /// Which rank-folder suffix is the pipeline rank and which the expert rank. Two suffixes are (PP, EP); one is PP
    /// for a dense model, and for a MoE model EP exactly when every file holds the whole model (its first file has the
    /// final norm), PP otherwise.
    /// </summary>
    private static (Func<LegacyRankFolder, int> Pp, Func<LegacyRankFolder, int> Ep, int PpSize, int EpSize) SplitSuffixes(
        ModelMapping model, List<(LegacyRankFolder Folder, LegacyCheckpointFile File)> opened, string where)
    {
        var folders = opened.Select(o => o.Folder).ToList();
        int Size(int i) => folders.Select(f => f.Suffixes[i]).Max() + 1;
        switch (folders[0].Suffixes.Count)
        {
            case 0:
                return (_ => 0, _ => 0, 1, 1);
            case 2:
                return (f => f.Suffixes[0], f => f.Suffixes[1], Size(0), Size(1));
            default:
                if (Size(0) == 1) throw new InvalidInputException($"{where}: a rank suffix _000 with a parallel size of 1 is not a Megatron layout");
                var first = opened.First(o => o.Folder.Suffixes[0] == 0).File;
                string finalNorm = model.LanguagePrefix + "decoder.final_layernorm.";
                bool wholeModel = first.ModelKeys.Any(k => first.ChunkTensors(k).Any(t => t.Name.StartsWith(finalNorm, StringComparison.Ordinal)));
                return model.Provider.NumExperts > 0 && wholeModel
                    ? (_ => 0, f => f.Suffixes[0], 1, Size(0))
                    : (f => f.Suffixes[0], _ => 0, Size(0), 1);
        }
    }

    private static int VirtualChunks(LegacyCheckpointFile file) =>
        file.ModelKeys.Count == 1 && file.ModelKeys[0] == "model" ? 1 : file.ModelKeys.Count;

    /// <summary>The expert-tensor size: the divisor of TP whose shard shapes the stored expert weights have (TP when there are none).</summary>
    private static int ExpertTensorSize(ModelMapping model, List<(LegacyRankFolder Folder, LegacyCheckpointFile File)> opened,
        int tp, int pp, int vpp, int ep, Func<LegacyRankFolder, int> ppOf, Func<LegacyRankFolder, int> epOf)
    {
        var experts = model.Mappings.Where(m => m.Megatron.IsExpert).ToList();
        if (experts.Count == 0 || tp == 1) return tp;
        foreach (int candidate in Enumerable.Range(1, tp).Where(d => tp % d == 0).Reverse())
        {
            var layout = new ParallelLayout(tp, pp, vpp, ep, candidate);
            var naming = model.Naming(layout);
            bool fits = true;
            foreach (var kind in experts)
            {
                var at = naming.Place(kind.Megatron.Name);
                var file = opened.First(o => o.Folder.TpRank == 0 && ppOf(o.Folder) == at.PpRank && epOf(o.Folder) == Math.Max(at.EpRank, 0)).File;
                var key = vpp == 1 ? file.ModelKeys[0] : "model" + at.VppChunk.ToString(CultureInfo.InvariantCulture);
                var stored = file.ModelKeys.Contains(key) ? file.ChunkTensors(key).FirstOrDefault(t => LegacyKeyNames.Normalize(t.Name) == at.LocalName) : null;
                if (stored is null || stored.Shape != kind.ShardShape(candidate))
                {
                    fits = false;
                    break;
                }
            }
            if (fits) return candidate;
        }
        return tp;
    }

    public bool TryGet(string name, out TensorMeta meta)
    {
        bool found = _where.TryGetValue(name, out var at);
        meta = found ? at.Meta : null!;
        return found;
    }

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        if (!_where.TryGetValue(name, out var at)) throw new InvalidInputException($"{Description}: no tensor named '{name}'");
        at.File.ReadChunk(at.ModelKey, at.LocalName, byteOffset, destination);
    }

    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
    }
}

/// <summary>A stored copy of a shard in a legacy rank file: where it is and which shard it must equal.</summary>
internal sealed record LegacyReplica(string Primary, LegacyCheckpointFile File, string ModelKey, string LocalName, TensorMeta Meta)
{
    public string Where => $"{File.Description}: '{LocalName}' in '{ModelKey}'";
}
