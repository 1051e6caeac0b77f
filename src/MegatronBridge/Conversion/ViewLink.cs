using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// One correspondence between elements of an HF tensor and elements of one tensor-parallel shard of a Megatron
/// parameter. A mapping kind is nothing but its list of links: reading them HF to Megatron gives the import recipes,
/// reading them Megatron to HF gives the export recipes, so both directions are consistent by construction.
/// </summary>
/// <param name="Exported">False for the extra copies of a replicated tensor on TP ranks other than 0: they are
/// written on import but never read back on export.</param>
internal sealed record ViewLink(string HfName, StridedView HfView, int ShardRank, StridedView MegatronView, bool Exported = true);
