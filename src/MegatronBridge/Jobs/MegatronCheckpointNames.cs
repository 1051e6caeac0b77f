using MegatronBridge.Conversion;

namespace MegatronBridge.Jobs;

/// <summary>
/// What the tensor names a Megatron checkpoint holds (torch_dist keys; every legacy rank file's rank-local names) tell
/// before the checkpoint is opened for reading.
/// </summary>
internal static class MegatronCheckpointNames
{
    /// <summary>Whether any name belongs to an MTP layer (<c>[language_model.]mtp.layers.N.</c>).</summary>
    public static bool HasMtp(IEnumerable<string> names) => names.Any(n => n.StartsWith("mtp.layers.", StringComparison.Ordinal)
                                                                          || n.Contains(".mtp.layers.", StringComparison.Ordinal));

    /// <summary>The MTP inner-layer name(s) the names use (both for a damaged checkpoint), sorted; empty without MTP.</summary>
    public static IReadOnlyList<string> MtpLayerNames(IEnumerable<string> names) =>
        names.Select(Conversion.MtpLayerNames.UsedBy).OfType<string>().Distinct().Order(StringComparer.Ordinal).ToList();

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
