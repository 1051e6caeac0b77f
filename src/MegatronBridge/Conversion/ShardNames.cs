using System.Globalization;

namespace MegatronBridge.Conversion;

/// <summary>
/// Names of tensor-parallel shards when all ranks' tensors are gathered in one <see cref="Tensors.ITensorSource"/>
/// for export: the global parameter name at TP size 1, else the name with a <c>#tp{rank}</c> suffix.
/// </summary>
internal static class ShardNames
{
    private const string Marker = "#tp";

    public static string Of(string globalName, int rank, int size) =>
        size == 1 ? globalName : globalName + Marker + rank.ToString(CultureInfo.InvariantCulture);

    /// <summary>Splits a shard name back into the global name and the rank (rank 0 when there is no suffix).</summary>
    public static (string GlobalName, int Rank) Parse(string shardName)
    {
        int at = shardName.LastIndexOf(Marker, StringComparison.Ordinal);
        if (at < 0) return (shardName, 0);
        var digits = shardName[(at + Marker.Length)..];
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int rank))
            throw new FormatException($"'{shardName}': bad tensor-parallel shard suffix");
        return (shardName[..at], rank);
    }
}
