using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;

namespace MegatronBridge.Jobs;

/// <summary>
/// The tensor names a Megatron checkpoint holds, read from metadata only (torch_dist keys; every legacy rank file's
/// rank-local names), to decide what the mapping must expect before the checkpoint is opened for reading.
/// </summary>
internal static class MegatronCheckpointNames
{
    /// <summary>All tensor names; empty when the folder is neither format (the caller's own checks report that).</summary>
    public static IReadOnlyList<string> Read(string iterationFolder, bool legacyFormat)
    {
        var names = new List<string>();
        if (legacyFormat)
        {
            foreach (var folder in LegacyRankFolders.List(iterationFolder))
            {
                using var file = LegacyCheckpointFile.Open(folder.File, modelKey: null);
                foreach (var key in file.ModelKeys) names.AddRange(file.ChunkTensors(key).Select(t => t.Name));
            }
            return names;
        }
        if (!File.Exists(Path.Combine(iterationFolder, TorchDistWriter.MetadataFileName))) return names;
        using var checkpoint = TorchDistCheckpoint.Open(iterationFolder);
        names.AddRange(checkpoint.Tensors.Select(t => t.Name));
        return names;
    }

    /// <summary>Whether any name belongs to an MTP layer (<c>[language_model.]mtp.layers.N.</c>).</summary>
    public static bool HasMtp(IEnumerable<string> names) => names.Any(n => n.StartsWith("mtp.layers.", StringComparison.Ordinal)
                                                                          || n.Contains(".mtp.layers.", StringComparison.Ordinal));

    /// <summary>
    /// How the routed experts under each prefix are stored, e.g. "decoder: grouped", "mtp: sequential" (legacy files;
    /// torch_dist keys are the same for both); empty without experts.
    /// </summary>
    public static IReadOnlyList<string> ExpertModules(IEnumerable<string> names)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var n in names)
        {
            if (!n.Contains(".mlp.experts.", StringComparison.Ordinal) || n.EndsWith(TorchLegacyImport.ExtraStateSuffix, StringComparison.Ordinal)) continue;
            string where = n.Contains("mtp.layers.", StringComparison.Ordinal) ? "mtp" : "decoder";
            found.Add($"{where}: {(MegatronNaming.IsSequentialExpert(n) ? "sequential" : "grouped")}");
        }
        return found.ToList();
    }
}
