using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// Opens a Megatron checkpoint on disk as in-memory parameters for the reference forward: torch_dist as global TP=1
/// names, legacy per-rank files as gathered tensor-parallel shards (see <see cref="MegatronWeightLoader"/>). The
/// Hugging Face folder gives config.json (the model's shape) and, where it has weights, the tensor layout the mapping
/// was made with. A language-model-only import of a VL model (no <c>language_model.</c> names) is recognised.
/// </summary>
internal static class MegatronCheckpointWeights
{

    /// <summary>The parameters, and what must stay open while they are read (dispose it when done).</summary>
    public static (ITensorSource Parameters, IDisposable Owner) Open(string megatronPath, string hfModel)
    {
        var config = HfConfig.LoadFromFolder(hfModel);
        var iteration = MegatronCheckpoint.Locate(megatronPath);
        bool legacy = iteration.IsLegacy;
        if (!legacy && !iteration.HasTorchDistMetadata)
            throw new InvalidInputException($"{iteration.Folder}: neither a torch_dist checkpoint (no {TorchDistWriter.MetadataFileName}) nor legacy mp_rank_* folders");

        bool languageOnly = iteration.IsLanguageOnly(config);
        var (bridge, provider) = BridgeRegistry.CreateProvider(config, languageOnly);
        IReadOnlyList<TensorMeta> hfTensors = Array.Empty<TensorMeta>();
        if (SafetensorsCheckpoint.HasWeights(hfModel))
        {
            using var original = SafetensorsCheckpoint.Open(hfModel);
            var weights = HfWeights.Dequantized(original, hfModel);
            hfTensors = languageOnly ? new LanguageModelOnly.View(weights).Tensors.ToList() : weights.Tensors.ToList();
        }
        // The reference forward does not run MTP: a checkpoint without it is read as a model built without it.
        if (provider.MtpLayers > 0 && !iteration.HasMtp())
            provider = MtpSelection.WithoutMtp(provider);
        // A vocabulary padded by Megatron-LM is read at its stored size and shown cut to the HF vocab_size.
        int hfVocab = provider.VocabSize;
        var storedRows = iteration.StoredVocabRows();
        bool padded = storedRows > hfVocab;
        if (padded) provider = VocabPadding.Padded(provider, storedRows!.Value);
        var mapping = BridgeMappings.Create(bridge, provider, hfTensors, hfModel);

        if (legacy)
        {
            // Per-rank files, read as gathered tensor-parallel shards (name#tp{r}) that the loader joins itself.
            var shards = TorchLegacyExport.Open(mapping, iteration.Folder);
            return (padded ? new VocabRowsView(shards, hfVocab) : shards, shards);
        }
        var checkpoint = TorchDistCheckpoint.Open(iteration.Folder);
        try
        {
            var (parameters, _) = TorchDistExport.Open(mapping, checkpoint);
            return (padded ? new VocabRowsView(parameters, hfVocab) : parameters, checkpoint);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>True when <paramref name="path"/> looks like a Megatron checkpoint (tracker, iteration folder, DCP metadata or rank folders) rather than an HF folder.</summary>
    public static bool IsMegatronCheckpoint(string path)
    {
        if (!Directory.Exists(path)) return false;
        if (File.Exists(Path.Combine(path, "config.json"))) return false;
        return File.Exists(Path.Combine(path, MegatronCheckpointFolder.TrackerFileName))
            || File.Exists(Path.Combine(path, TorchDistWriter.MetadataFileName))
            || LegacyRankFolders.IsLegacy(path)
            || Directory.EnumerateDirectories(path, "iter_*").Any()
            || Directory.Exists(Path.Combine(path, MegatronCheckpointFolder.ReleaseFolderName));
    }
}
