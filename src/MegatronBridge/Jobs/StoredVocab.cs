using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;

namespace MegatronBridge.Jobs;

/// <summary>How many vocabulary rows a Megatron checkpoint's embedding holds (padded by Megatron-LM, or not).</summary>
internal static class StoredVocab
{
    private const string EmbeddingSuffix = "embedding.word_embeddings.weight";

    /// <summary>The global row count of the stored embedding; null when the checkpoint has none (or is not readable as either format).</summary>
    public static int? Rows(string iterationFolder, bool legacyFormat)
    {
        if (legacyFormat)
        {
            var folders = LegacyRankFolders.List(iterationFolder);
            int tp = folders.Select(f => f.TpRank).Max() + 1;
            // The embedding lives on the first pipeline stage: the rank folder with every suffix 0.
            var first = folders.First(f => f.TpRank == 0 && f.Suffixes.All(s => s == 0));
            using var file = LegacyCheckpointFile.Open(first.File, modelKey: null);
            foreach (var key in file.ModelKeys)
            {
                var local = file.ChunkTensors(key).FirstOrDefault(t => IsEmbedding(t.Name));
                if (local is { Shape.Rank: 2 }) return checked((int)local.Shape[0] * tp);
            }
            return null;
        }
        if (!File.Exists(Path.Combine(iterationFolder, TorchDistWriter.MetadataFileName))) return null;
        using var checkpoint = TorchDistCheckpoint.Open(iterationFolder);
        var stored = checkpoint.Tensors.FirstOrDefault(t => IsEmbedding(t.Name));
        return stored is { Shape.Rank: 2 } ? checked((int)stored.Shape[0]) : null;
    }

    private static bool IsEmbedding(string name) =>
        name.EndsWith(EmbeddingSuffix, StringComparison.Ordinal) && !name.Contains("vision", StringComparison.Ordinal);
}
