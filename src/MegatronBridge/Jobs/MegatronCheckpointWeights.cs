using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
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
    /// <param name="config">The config.json of <paramref name="hfModel"/>, already read by the caller.</param>
    public static (ITensorSource Parameters, IDisposable Owner) Open(string megatronPath, string hfModel, HfConfig config)
    {
        // The reference forward does not run MTP: a checkpoint without it is read as a model built without it. A
        // vocabulary padded by Megatron-LM is read at its stored size and shown cut to the HF vocab_size.
        var opened = OpenedMegatronCheckpoint.Open(megatronPath, config, hfModel);
        try
        {
            IReadOnlyList<TensorMeta> hfTensors = Array.Empty<TensorMeta>();
            if (SafetensorsCheckpoint.HasWeights(hfModel))
            {
                using var original = SafetensorsCheckpoint.Open(hfModel);
                hfTensors = opened.LanguageModelView(HfWeights.Dequantized(original, hfModel)).Tensors.ToList();
            }
            opened.Map(hfTensors);
            // Legacy per-rank files are read as gathered tensor-parallel shards (name#tp{r}) that the loader joins itself.
            return (opened.ParametersAtHfVocab(), opened);
        }
        catch
        {
            opened.Dispose();
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
