using System.Globalization;
using System.Text.RegularExpressions;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.IO;

namespace MegatronBridge.Jobs;

/// <summary>One <c>mp_rank_XX[_PPP][_EEE]</c> folder: its TP rank and the numeric suffixes after it (0, 1 or 2).</summary>
internal sealed record LegacyRankFolder(string Name, string File, int TpRank, IReadOnlyList<int> Suffixes);

/// <summary>Finds the rank folders of a legacy per-rank checkpoint's iteration folder and checks they form a full grid.</summary>
internal static partial class LegacyRankFolders
{
    [GeneratedRegex(@"^mp_rank_(\d{2,})(?:_(\d{3,}))?(?:_(\d{3,}))?$", RegexOptions.CultureInvariant)]
    private static partial Regex RankFolderPattern();

    /// <summary>True when the folder holds <c>mp_rank_*</c> folders (a legacy <c>torch</c> checkpoint).</summary>
    public static bool IsLegacy(string iterationFolder) =>
        Directory.Exists(iterationFolder) && Directory.EnumerateDirectories(iterationFolder, "mp_rank_*").Any();

    public static IReadOnlyList<LegacyRankFolder> List(string iterationFolder)
    {
        var folders = new List<LegacyRankFolder>();
        foreach (var dir in Directory.GetDirectories(iterationFolder, "mp_rank_*").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            var m = RankFolderPattern().Match(name);
            if (!m.Success) throw new InvalidInputException($"{dir}: not a rank folder name (expected mp_rank_XX[_PPP][_EEE])");
            var suffixes = m.Groups.Cast<Group>().Skip(2).Where(g => g.Success).Select(g => Number(g.Value, dir)).ToList();
            var file = Path.Combine(dir, LegacyCheckpointNames.FileName);
            if (!File.Exists(file)) throw new InvalidInputException($"{dir}: no {LegacyCheckpointNames.FileName}");
            folders.Add(new LegacyRankFolder(name, file, Number(m.Groups[1].Value, dir), suffixes));
        }
        if (folders.Count == 0) throw new InvalidInputException($"{iterationFolder}: no mp_rank_* folders");
        int suffixCount = folders[0].Suffixes.Count;
        if (folders.Any(f => f.Suffixes.Count != suffixCount))
            throw new InvalidInputException($"{iterationFolder}: rank folders mix naming schemes ({string.Join(", ", folders.Select(f => f.Name))})");

        // The ranks must form a complete grid: every combination of 0..n-1 on each axis, once.
        var sizes = new List<int> { folders.Select(f => f.TpRank).Distinct().Count() };
        for (int i = 0; i < suffixCount; i++) sizes.Add(folders.Select(f => f.Suffixes[i]).Distinct().Count());
        var present = folders.Select(f => string.Join("_", new[] { f.TpRank }.Concat(f.Suffixes))).ToHashSet(StringComparer.Ordinal);
        foreach (var coords in Grid(sizes))
        {
            if (!present.Contains(string.Join("_", coords)))
                throw new InvalidInputException($"{iterationFolder}: rank folder for (tp, ...) = ({string.Join(", ", coords)}) is missing; found {string.Join(", ", folders.Select(f => f.Name))}");
        }
        if (present.Count != folders.Count || folders.Count != sizes.Aggregate(1, (a, b) => a * b))
            throw new InvalidInputException($"{iterationFolder}: rank folders do not form a complete grid: {string.Join(", ", folders.Select(f => f.Name))}");
        return folders;
    }

    private static IEnumerable<int[]> Grid(IReadOnlyList<int> sizes)
    {
        var coords = new int[sizes.Count];
        while (true)
        {
            yield return (int[])coords.Clone();
            int axis = sizes.Count - 1;
            while (axis >= 0 && ++coords[axis] == sizes[axis]) coords[axis--] = 0;
            if (axis < 0) yield break;
        }
    }

    private static int Number(string digits, string dir) => int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
        ? n
        : throw new InvalidInputException($"{dir}: rank number {digits} is out of range");
}
