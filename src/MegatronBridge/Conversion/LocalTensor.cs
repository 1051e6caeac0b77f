using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// One tensor a Megatron rank holds after import: its recipe (output named <see cref="LocalName"/>), where it lives and
/// how the shard is called when all ranks are gathered for export (<see cref="ShardName"/>).
/// </summary>
/// <param name="ShardRank">TP rank for ordinary parameters, expert-TP rank for routed-expert weights.</param>
/// <param name="EpRank">EP rank for routed-expert weights, -1 otherwise.</param>
/// <param name="IsDuplicate">A copy Megatron keeps on another stage (tied output layer, MTP embedding with PP &gt; 1);
/// written on import, never read on export.</param>
internal sealed record LocalTensor(
    MegatronParam Param,
    string LocalName,
    string ShardName,
    int PpRank,
    int VppChunk,
    int ShardRank,
    int EpRank,
    bool IsDuplicate,
    TensorRecipe Recipe)
{
    public bool IsExpert => EpRank >= 0;
}
