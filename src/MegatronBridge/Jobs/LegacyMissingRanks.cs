using System.Globalization;
using MegatronBridge.Config;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.IO;
using MegatronBridge.Models;

namespace MegatronBridge.Jobs;

/// <summary>
/// Finds tensor-parallel rank folders missing at the top of a legacy checkpoint's grid. Deleting <c>mp_rank_01</c> of a
/// TP2 checkpoint leaves a complete-looking TP1 grid: the files alone cannot tell, so the TP size is taken from the
/// <c>args</c> a training run saves, or from the vocabulary of the model's config.json (each TP rank holds an equal
/// slice of the padded vocabulary rows, so rows per rank x TP must reach vocab_size).
/// </summary>
internal static class LegacyMissingRanks
{
    /// <summary>
    /// Throws naming the missing rank folders when <c>args.tensor_model_parallel_size</c> or, with
    /// <paramref name="hfModel"/>, the vocabulary needs more TP ranks than were found. Returns a warning when neither
    /// is available (the layout was inferred from the folders found), else null.
    /// </summary>
    public static string? Check(string iterationFolder, IReadOnlyList<LegacyRankFolder> folders, string? hfModel)
    {
        int found = folders.Select(f => f.TpRank).Distinct().Count();
        var first = folders[0];
        using var file = LegacyCheckpointFile.Open(first.File, modelKey: null);
        if (DeclaredTp(file) is { } declared)
        {
            if (declared > found)
                throw Missing(iterationFolder, folders, found, declared, $"{first.File}: args.tensor_model_parallel_size is {declared}");
            return null;
        }
        if (hfModel is null)
            return $"layout inferred from the {folders.Count} rank folder(s) found; the files record no TP size, so a missing highest "
                   + "tensor-parallel rank folder cannot be seen: pass --hf-model to check it against config.json";

        var (_, provider) = BridgeRegistry.CreateProvider(HfConfig.LoadFromFolder(hfModel));
        var embedding = file.ModelKeys.SelectMany(k => file.ChunkTensors(k))
            .FirstOrDefault(t => t.Name.EndsWith("embedding.word_embeddings.weight", StringComparison.Ordinal) && t.Shape.Rank == 2);
        if (embedding is null || embedding.Shape[0] <= 0) return null;
        long rows = embedding.Shape[0];
        int needed = (int)((provider.VocabSize + rows - 1) / rows);
        if (needed > found)
            throw Missing(iterationFolder, folders, found, needed,
                $"{first.File}: '{embedding.Name}' holds {rows} vocabulary rows per rank, and {Path.Combine(hfModel, "config.json")} has vocab_size {provider.VocabSize}, so the checkpoint needs tp >= {needed}");
        return null;
    }

    private static int? DeclaredTp(LegacyCheckpointFile file)
    {
        if (file.Args is not { HasState: true, State: PyDict state } || !state.TryGet("tensor_model_parallel_size", out var value)) return null;
        return value is long n && n is > 0 and < 1 << 20 ? (int)n : null;
    }

    private static InvalidInputException Missing(string iterationFolder, IReadOnlyList<LegacyRankFolder> folders, int found, int needed, string why)
    {
        // The same pipeline/expert suffixes as the TP rank 0 folders, for each TP rank that is not there.
        var missing = Enumerable.Range(found, needed - found)
            .SelectMany(rank => folders.Where(f => f.TpRank == 0).Select(f => "mp_rank_" + rank.ToString("00", CultureInfo.InvariantCulture) + f.Name["mp_rank_00".Length..]))
            .ToList();
        return new InvalidInputException($"{iterationFolder}: tensor-parallel rank folder(s) missing: {string.Join(", ", missing)} "
            + $"(found tp={found}: {string.Join(", ", folders.Select(f => f.Name))}; {why})");
    }
}
