using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Models;

namespace MegatronBridge.Jobs;

/// <summary>
/// A Megatron checkpoint on disk as every command finds it: the iteration folder a path resolves to, whether it holds
/// legacy per-rank files or torch_dist, and what its stored names tell about the model (VL names or a language-only
/// import, MTP present, the stored vocabulary rows). Reads metadata only; each question is answered where it is asked,
/// so callers keep the order in which they read the files.
/// </summary>
internal sealed class MegatronCheckpoint
{
    private const string VisionLanguagePrefix = "language_model.";

    private MegatronCheckpoint(MegatronIterationFolder iteration, bool isLegacy)
    {
        Iteration = iteration;
        IsLegacy = isLegacy;
    }

    public MegatronIterationFolder Iteration { get; }

    /// <summary>The iteration folder (<c>iter_NNNNNNN</c> or <c>release</c>, or the folder given when it holds the files).</summary>
    public string Folder => Iteration.Folder;

    /// <summary>Legacy <c>mp_rank_*</c> folders (one <c>model_optim_rng.pt</c> per rank) rather than torch_dist.</summary>
    public bool IsLegacy { get; }

    public MegatronFormat Format => IsLegacy ? MegatronFormat.Torch : MegatronFormat.TorchDist;

    /// <summary>Whether the folder holds a torch_dist checkpoint's DCP metadata file.</summary>
    public bool HasTorchDistMetadata => File.Exists(Path.Combine(Folder, TorchDistWriter.MetadataFileName));

    /// <summary>Resolves <paramref name="path"/> (checkpoint root with a tracker file, or an iteration folder) and tells its format.</summary>
    public static MegatronCheckpoint Locate(string path)
    {
        var iteration = MegatronCheckpointFolder.Resolve(path);
        return new MegatronCheckpoint(iteration, LegacyRankFolders.IsLegacy(iteration.Folder));
    }

    /// <summary>
    /// Whether the checkpoint uses a VL model's names (<c>language_model.</c>), as a <c>--language-only</c> import does
    /// not. Legacy checkpoints are judged by the first rank file; a folder without DCP metadata counts as VL.
    /// </summary>
    public bool HasVisionLanguageNames()
    {
        if (IsLegacy)
        {
            using var file = LegacyCheckpointFile.Open(LegacyRankFolders.List(Folder)[0].File, modelKey: null);
            return file.ModelKeys.Any(k => file.ChunkTensors(k).Any(t => t.Name.StartsWith(VisionLanguagePrefix, StringComparison.Ordinal)));
        }
        if (!HasTorchDistMetadata) return true;
        using var checkpoint = TorchDistCheckpoint.Open(Folder);
        return checkpoint.Tensors.Any(t => t.Name.StartsWith(VisionLanguagePrefix, StringComparison.Ordinal));
    }

    /// <summary>
    /// Whether the checkpoint holds only the language model of the VL model <paramref name="config"/> describes:
    /// <paramref name="requested"/> when given, else detected (a VL config whose checkpoint has no VL names).
    /// </summary>
    public bool IsLanguageOnly(HfConfig config, bool? requested = null) =>
        requested ?? (BridgeRegistry.HasLanguageModelOnly(config) && !HasVisionLanguageNames());

    /// <summary>Whether any stored name belongs to an MTP layer.</summary>
    public bool HasMtp() => MegatronCheckpointNames.HasMtp(MegatronCheckpointNames.Read(Folder, IsLegacy));

    /// <summary>The rows the stored word embeddings hold (more than the HF vocab_size when Megatron-LM padded it), or null when none is stored.</summary>
    public int? StoredVocabRows() => StoredVocab.Rows(Folder, IsLegacy);

}
