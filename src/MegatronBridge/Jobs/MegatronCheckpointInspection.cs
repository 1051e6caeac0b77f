using System.Globalization;
using System.Text.RegularExpressions;
using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Models;

namespace MegatronBridge.Jobs;

/// <summary>Keys of one kind in a checkpoint: how many, how many tensor bytes.</summary>
public sealed record MegatronKeyGroup(CheckpointKeyKind Kind, int Count, long Bytes);

/// <summary>
/// The parallel sizes a checkpoint was saved with, as far as its files tell: null where they do not (a single-writer
/// torch_dist checkpoint holds global tensors and records no layout).
/// </summary>
public sealed record SavedLayout(int? Tp, int? Pp, int? Vpp, int? Ep, int Files)
{
    public override string ToString() =>
        $"tp={Show(Tp)} pp={Show(Pp)} vpp={Show(Vpp)} ep={Show(Ep)} ({Files} {(Files == 1 ? "file" : "files")})";

    private static string Show(int? n) => n?.ToString(CultureInfo.InvariantCulture) ?? "?";
}

/// <summary>What <c>inspect --megatron-path</c> reports about a Megatron checkpoint (read from metadata only, no tensor data).</summary>
public sealed record MegatronCheckpointInfo(
    string Folder,
    long? Iteration,
    bool IsRelease,
    MegatronFormat Format,
    string Variant,
    double? CheckpointVersion,
    int Tensors,
    long Bytes,
    int Objects,
    SavedLayout Layout,
    IReadOnlyList<MegatronKeyGroup> Groups,
    IReadOnlyList<string> OtherKeys)
{
    /// <summary>
    /// The MTP inner-layer name(s) the keys use (<c>transformer_layer</c>, <c>mtp_model_layer</c>, both joined by
    /// " + " for a damaged checkpoint); empty without MTP.
    /// </summary>
    public IReadOnlyList<string> MtpLayerNames { get; init; } = Array.Empty<string>();

    /// <summary>Legacy files: how routed experts are stored per prefix ("decoder: grouped", "mtp: sequential"); empty for torch_dist (same keys for both).</summary>
    public IReadOnlyList<string> ExpertModules { get; init; } = Array.Empty<string>();

    /// <summary>
    /// Every stored tensor (<see cref="Tensors"/>), extra state and common state entry (torch_dist <c>common_state</c>;
    /// a legacy file's <c>checkpoint_version</c> and <c>iteration</c>): what verify compares and counts as stored copies.
    /// </summary>
    public int StoredCopies { get; init; }

    /// <summary>What the files could not settle (a legacy layout inferred from the rank folders found); empty when all is known.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = Array.Empty<string>();

    /// <summary>The global rows of the stored word embeddings (a padded vocabulary holds more than the HF vocab_size); null when none is stored.</summary>
    public int? EmbeddingRows { get; init; }

    /// <summary>The HF vocab_size, when an HF config.json was given; null otherwise.</summary>
    public int? HfVocabRows { get; init; }

    /// <summary>Rows beyond the HF vocab_size (Megatron-LM's vocabulary padding); null without an HF config or stored embeddings.</summary>
    public int? PaddingRows => EmbeddingRows is { } stored && HfVocabRows is { } hf ? stored - hf : null;
}

public static partial class MegatronCheckpointInspection
{
    [GeneratedRegex(@"decoder\.layers\.(\d+)\.", RegexOptions.CultureInvariant)]
    private static partial Regex LayerNumber();

    [GeneratedRegex(@"^__(\d+)_\d+\.distcp$", RegexOptions.CultureInvariant)]
    private static partial Regex DataFileRank();

    /// <param name="hfModel">The model's HF folder, if given: its config.json tells whether legacy TP rank folders are missing.</param>
    public static MegatronCheckpointInfo Inspect(string path, string? hfModel = null)
    {
        // No HF config is needed to read the checkpoint, so the located checkpoint is enough: the same format decision
        // and refusal every command makes, and its torch_dist metadata read once.
        using var checkpoint = MegatronCheckpoint.Locate(path);
        var info = checkpoint.IsLegacy ? InspectLegacy(checkpoint.Iteration, checkpoint.RankFolders, hfModel) : InspectTorchDist(checkpoint.TorchDist!);
        // The vocabulary: stored rows always, the HF vocab_size (so the padding) only when config.json is given.
        int? hfVocab = hfModel is null ? null : BridgeRegistry.CreateProvider(HfConfig.LoadFromFolder(hfModel)).Provider.VocabSize;
        return info with { EmbeddingRows = checkpoint.StoredVocabRows(), HfVocabRows = hfVocab };
    }

    private static MegatronCheckpointInfo InspectTorchDist(TorchDistCheckpoint checkpoint)
    {
        bool commonPt = File.Exists(Path.Combine(checkpoint.Folder, "common.pt"));
        string variant = commonPt
            ? "megatron-core <= 0.18 (common.pt)"
            : checkpoint.ObjectKeys.Contains(TorchDistCheckpoint.CommonStateKey) ? "megatron-core >= 0.19 (common_state in DCP)" : "plain DCP (no common state)";
        var common = checkpoint.CommonState;
        double? version = common != null && common.TryGet("checkpoint_version", out var v) ? v switch { double d => d, long l => l, _ => null } : null;

        var groups = new Dictionary<CheckpointKeyKind, (int Count, long Bytes)>();
        var other = new List<string>();
        foreach (var t in checkpoint.Tensors)
        {
            var kind = CheckpointKeys.Classify(t.Name, isTensor: true);
            Count(groups, kind, t.ByteLength);
            if (kind != CheckpointKeyKind.ModelWeight) other.Add(t.Name);
        }
        foreach (var key in checkpoint.ObjectKeys)
        {
            var kind = CheckpointKeys.Classify(key, isTensor: false);
            Count(groups, kind, 0);
            if (CheckpointKeys.IsReportedWhenSkipped(kind)) other.Add(key);
        }
        return new MegatronCheckpointInfo(checkpoint.Folder, checkpoint.Iteration, checkpoint.IsRelease, MegatronFormat.TorchDist, variant, version,
            checkpoint.Tensors.Count, checkpoint.Tensors.Sum(t => t.ByteLength), checkpoint.ObjectKeys.Count, TorchDistLayout(checkpoint),
            Groups(groups), other)
        {
            MtpLayerNames = MegatronCheckpointNames.MtpLayerNames(checkpoint.Tensors.Select(t => t.Name)),
            StoredCopies = checkpoint.Tensors.Count + checkpoint.ObjectKeys.Count(k => CheckpointKeys.Classify(k, isTensor: false) is CheckpointKeyKind.ExtraState or CheckpointKeyKind.CommonState),
        };
    }

    /// <summary>
    /// The layout from the chunk grid and the files that hold each chunk: TP = pieces of row-parallel weights along their
    /// last axis; EP = files holding the first expert-TP pieces of an expert key; PP = runs of consecutive layers whose
    /// chunks come from the same first rank. A single data file records no layout.
    /// </summary>
    private static SavedLayout TorchDistLayout(TorchDistCheckpoint checkpoint)
    {
        var fileOf = new Dictionary<(string, string), string>();
        foreach (var item in checkpoint.Metadata.StorageData)
            fileOf[(item.Key.Fqn, string.Join(",", item.Key.Offset ?? Array.Empty<long>()))] = item.Info.RelativePath;
        var files = fileOf.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (files.Count <= 1) return new SavedLayout(null, null, null, null, files.Count);
        // The writing rank of a chunk (several writer threads of one rank are one rank); the file name otherwise.
        string File(string key, DcpChunk c)
        {
            var file = fileOf.GetValueOrDefault((key, string.Join(",", c.Offsets)), "");
            var m = DataFileRank().Match(file);
            return m.Success ? m.Groups[1].Value.PadLeft(10, '0') : file;
        }

        var weights = checkpoint.TensorEntries.Where(e => CheckpointKeys.Classify(e.Fqn, isTensor: true) == CheckpointKeyKind.ModelWeight).ToList();
        int tp = weights.Where(e => !e.Fqn.Contains(".experts.", StringComparison.Ordinal) && e.Size.Length > 0
                                    && (e.Fqn.EndsWith("linear_proj.weight", StringComparison.Ordinal) || e.Fqn.EndsWith("out_proj.weight", StringComparison.Ordinal) || e.Fqn.EndsWith("linear_fc2.weight", StringComparison.Ordinal)))
            .Select(e => e.Chunks.Select(c => c.Offsets[^1]).Distinct().Count()).DefaultIfEmpty(1).Max();

        int? ep = null;
        var expert = weights.FirstOrDefault(e => e.Fqn.Contains(".experts.", StringComparison.Ordinal) && e.Size.Length >= 2);
        if (expert != null)
            ep = expert.Chunks.Where(c => c.Offsets[^1] == 0 && c.Offsets[^2] == 0).Select(c => File(expert.Fqn, c)).Distinct().Count();

        // First file holding each layer (per-layer keys name it; stacked keys put it on axis 0).
        var firstFile = new SortedDictionary<int, string>();
        foreach (var e in weights.Where(e => !e.Fqn.Contains(".experts.", StringComparison.Ordinal)
                                            && (e.Fqn.StartsWith("decoder.", StringComparison.Ordinal) || e.Fqn.StartsWith(ModelPrefixes.VlMegatronLanguage + "decoder.", StringComparison.Ordinal))))
        {
            var m = LayerNumber().Match(e.Fqn);
            foreach (var c in e.Chunks)
            {
                // A layer number past the int range names no real layer: left out of the inference like a name without one.
                int layer = m.Success ? (int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : -1) : (e.Fqn.Contains("decoder.layers.", StringComparison.Ordinal) && c.Offsets.Length > 0 ? (int)c.Offsets[0] : -1);
                if (layer < 0) continue;
                var f = File(e.Fqn, c);
                if (!firstFile.TryGetValue(layer, out var known) || string.CompareOrdinal(f, known) < 0) firstFile[layer] = f;
            }
        }
        int pp = firstFile.Count == 0 ? 1 : 1 + firstFile.Values.Zip(firstFile.Values.Skip(1)).Count(p => p.First != p.Second);
        return new SavedLayout(tp, pp, null, ep, files.Count);
    }

    private static MegatronCheckpointInfo InspectLegacy(MegatronIterationFolder iteration, IReadOnlyList<LegacyRankFolder> folders, string? hfModel)
    {
        var warning = LegacyMissingRanks.Check(iteration.Folder, folders, hfModel);
        var groups = new Dictionary<CheckpointKeyKind, (int Count, long Bytes)>();
        var other = new List<string>();
        int tensors = 0, objects = 0, vpp = 1, states = 0;
        long bytes = 0;
        long? iter = null;
        double? version = null;
        bool firstWhole = false, hasExperts = false;
        var names = new List<string>();
        foreach (var folder in folders)
        {
            using var file = LegacyCheckpointFile.Open(folder.File, modelKey: null);
            iter ??= file.Iteration;
            version ??= file.CheckpointVersion;
            vpp = file.ModelKeys.Count == 1 && file.ModelKeys[0] == "model" ? 1 : file.ModelKeys.Count;
            foreach (var key in file.ModelKeys)
            {
                foreach (var t in file.ChunkTensors(key))
                {
                    var kind = CheckpointKeys.Classify(t.Name, isTensor: true);
                    Count(groups, kind, t.ByteLength);
                    // _extra_state values are objects in torch_dist; count them alike here.
                    if (kind == CheckpointKeyKind.ExtraState)
                    {
                        objects++;
                        states++;
                        continue;
                    }
                    tensors++;
                    bytes += t.ByteLength;
                    names.Add(t.Name);
                    hasExperts |= t.Name.Contains(".mlp.experts.", StringComparison.Ordinal);
                    if (folder == folders[0]) firstWhole |= t.Name.Contains("decoder.final_layernorm.", StringComparison.Ordinal);
                }
            }
            // Non-tensor extra states (None for the output layer), and the file's checkpoint_version and iteration.
            states += file.ModelExtras.Keys.Count(k => k.EndsWith(TorchLegacyImport.ExtraStateSuffix, StringComparison.Ordinal))
                      + (file.CheckpointVersion is null ? 0 : 1) + (file.Iteration is null ? 0 : 1);
            foreach (var key in file.OtherStateKeys)
            {
                objects++;
                Count(groups, CheckpointKeys.Classify(key, isTensor: false), 0);
                other.Add($"{folder.Name}:{key}");
            }
        }
        int tp = folders.Select(f => f.TpRank).Distinct().Count();
        int Size(int i) => folders.Select(f => f.Suffixes[i]).Distinct().Count();
        var (pp, ep) = folders[0].Suffixes.Count switch
        {
            0 => (1, 1),
            2 => (Size(0), Size(1)),
            _ => hasExperts && firstWhole ? (1, Size(0)) : (Size(0), 1),
        };
        return new MegatronCheckpointInfo(iteration.Folder, iter ?? iteration.Iteration, iteration.IsRelease, MegatronFormat.Torch,
            "legacy per-rank torch (model_optim_rng.pt)", version, tensors, bytes, objects, new SavedLayout(tp, pp, vpp, ep, folders.Count), Groups(groups), other)
        {
            MtpLayerNames = MegatronCheckpointNames.MtpLayerNames(names),
            ExpertModules = MegatronCheckpointNames.ExpertModules(names),
            Warnings = warning is null ? Array.Empty<string>() : new[] { warning },
            StoredCopies = tensors + states,
        };
    }

    private static void Count(Dictionary<CheckpointKeyKind, (int Count, long Bytes)> groups, CheckpointKeyKind kind, long bytes)
    {
        var (count, total) = groups.GetValueOrDefault(kind);
        groups[kind] = (count + 1, total + bytes);
    }

    private static IReadOnlyList<MegatronKeyGroup> Groups(Dictionary<CheckpointKeyKind, (int Count, long Bytes)> groups) =>
        groups.OrderBy(g => g.Key).Select(g => new MegatronKeyGroup(g.Key, g.Value.Count, g.Value.Bytes)).ToList();
}
