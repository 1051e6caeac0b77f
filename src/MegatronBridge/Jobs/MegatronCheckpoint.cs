using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// A Megatron checkpoint on disk as every command finds it: the iteration folder a path resolves to, whether it holds
/// legacy per-rank files or torch_dist, and what its stored names tell about the model (VL names or a language-only
/// import, MTP present and its inner-layer name, the stored vocabulary rows). The stored names are read once: a
/// torch_dist checkpoint's metadata is parsed when it is located and the same <see cref="TorchDistCheckpoint"/> later
/// serves its tensors; a legacy checkpoint's first rank file is read when a question needs it, every rank file only
/// when the MTP question is asked (MTP lives on the last pipeline stage), each at most once. Dispose it to close the
/// torch_dist checkpoint.
/// </summary>
internal sealed class MegatronCheckpoint : IDisposable
{
    private const string VisionLanguagePrefix = ModelPrefixes.VlMegatronLanguage;
    private const string EmbeddingSuffix = "embedding.word_embeddings.weight";

    private readonly TorchDistCheckpoint? _torchDist;
    private IReadOnlyList<LegacyRankFolder>? _rankFolders;
    private readonly Dictionary<string, IReadOnlyList<IReadOnlyList<TensorMeta>>> _rankFileChunks = new(StringComparer.Ordinal);
    private IReadOnlyList<string>? _allNames;

    private MegatronCheckpoint(MegatronIterationFolder iteration, bool isLegacy, TorchDistCheckpoint? torchDist)
    {
        Iteration = iteration;
        IsLegacy = isLegacy;
        _torchDist = torchDist;
    }

    public MegatronIterationFolder Iteration { get; }

    /// <summary>The iteration folder (<c>iter_NNNNNNN</c> or <c>release</c>, or the folder given when it holds the files).</summary>
    public string Folder => Iteration.Folder;

    /// <summary>Legacy <c>mp_rank_*</c> folders (one <c>model_optim_rng.pt</c> per rank) rather than torch_dist.</summary>
    public bool IsLegacy { get; }

    public MegatronFormat Format => IsLegacy ? MegatronFormat.Torch : MegatronFormat.TorchDist;

    /// <summary>Whether the folder holds a torch_dist checkpoint's DCP metadata file.</summary>
    public bool HasTorchDistMetadata => HoldsTorchDistMetadata(Folder);

    /// <summary>The torch_dist checkpoint, opened once when located; null for a legacy checkpoint.</summary>
    public TorchDistCheckpoint? TorchDist => _torchDist;

    /// <summary>The legacy rank folders (listed and checked to form a full grid once); empty for torch_dist.</summary>
    public IReadOnlyList<LegacyRankFolder> RankFolders => IsLegacy ? _rankFolders ??= LegacyRankFolders.List(Folder) : Array.Empty<LegacyRankFolder>();

    /// <summary>
    /// Resolves <paramref name="path"/> (checkpoint root with a tracker file, or an iteration folder) and tells its
    /// format: <c>mp_rank_*</c> folders make it legacy, else its DCP metadata is read. A folder with neither is refused
    /// with the one message every command gives.
    /// </summary>
    public static MegatronCheckpoint Locate(string path)
    {
        var iteration = MegatronCheckpointFolder.Resolve(path);
        if (LegacyRankFolders.IsLegacy(iteration.Folder)) return new MegatronCheckpoint(iteration, isLegacy: true, torchDist: null);
        if (!HoldsTorchDistMetadata(iteration.Folder))
            throw new InvalidInputException(
                $"{iteration.Folder}: not a Megatron checkpoint (looked for a torch_dist {TorchDistWriter.MetadataFileName} file and legacy mp_rank_* folders, found neither)");
        return new MegatronCheckpoint(iteration, isLegacy: false, TorchDistCheckpoint.Open(iteration.Folder));
    }

    /// <summary>
    /// Whether the checkpoint uses a VL model's names (<c>language_model.</c>), as a <c>--language-only</c> import does
    /// not. Legacy checkpoints are judged by the first rank file.
    /// </summary>
    public bool HasVisionLanguageNames() =>
        (IsLegacy ? RankFileChunks(RankFolders[0]).SelectMany(c => c) : _torchDist!.Tensors)
            .Any(t => t.Name.StartsWith(VisionLanguagePrefix, StringComparison.Ordinal));

    /// <summary>
    /// Whether the checkpoint holds only the language model of the VL model <paramref name="config"/> describes:
    /// <paramref name="requested"/> when given, else detected (a VL config whose checkpoint has no VL names).
    /// </summary>
    public bool IsLanguageOnly(HfConfig config, bool? requested = null) =>
        requested ?? (BridgeRegistry.HasLanguageModelOnly(config) && !HasVisionLanguageNames());

    /// <summary>Whether any stored name belongs to an MTP layer.</summary>
    public bool HasMtp() => MegatronCheckpointNames.HasMtp(AllNames());

    /// <summary>The MTP inner-layer name(s) the stored names use (both for a damaged checkpoint); empty without MTP.</summary>
    public IReadOnlyList<string> MtpLayerNames() => MegatronCheckpointNames.MtpLayerNames(AllNames());

    /// <summary>
    /// The global rows the stored word embeddings hold (more than the HF vocab_size when Megatron-LM padded it), or
    /// null when none is stored. Legacy: the first pipeline stage's TP rank 0 file, times the TP size.
    /// </summary>
    public int? StoredVocabRows()
    {
        if (!IsLegacy)
        {
            var stored = _torchDist!.Tensors.FirstOrDefault(t => IsEmbedding(t.Name));
            return stored is { Shape.Rank: 2 } ? checked((int)stored.Shape[0]) : null;
        }
        var folders = RankFolders;
        int tp = folders.Select(f => f.TpRank).Max() + 1;
        // The embedding lives on the first pipeline stage: the rank folder with every suffix 0.
        var first = folders.First(f => f.TpRank == 0 && f.Suffixes.All(s => s == 0));
        foreach (var chunk in RankFileChunks(first))
        {
            var local = chunk.FirstOrDefault(t => IsEmbedding(t.Name));
            if (local is { Shape.Rank: 2 }) return checked((int)local.Shape[0] * tp);
        }
        return null;
    }

    public void Dispose() => _torchDist?.Dispose();

    private static bool HoldsTorchDistMetadata(string folder) => File.Exists(Path.Combine(folder, TorchDistWriter.MetadataFileName));

    /// <summary>Every stored tensor name: the torch_dist keys, or every legacy rank file's rank-local names.</summary>
    private IReadOnlyList<string> AllNames() =>
        _allNames ??= IsLegacy
            ? RankFolders.SelectMany(RankFileChunks).SelectMany(c => c).Select(t => t.Name).ToList()
            : _torchDist!.Tensors.Select(t => t.Name).ToList();

    /// <summary>The rank-local tensors of one legacy rank file, per model chunk, read once.</summary>
    private IReadOnlyList<IReadOnlyList<TensorMeta>> RankFileChunks(LegacyRankFolder folder)
    {
        if (_rankFileChunks.TryGetValue(folder.File, out var known)) return known;
        using var file = LegacyCheckpointFile.Open(folder.File, modelKey: null);
        var chunks = file.ModelKeys.Select(file.ChunkTensors).ToList();
        _rankFileChunks[folder.File] = chunks;
        return chunks;
    }

    private static bool IsEmbedding(string name) =>
        name.EndsWith(EmbeddingSuffix, StringComparison.Ordinal) && !name.Contains("vision", StringComparison.Ordinal);
}
