using MegatronBridge.Conversion;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;

namespace MegatronBridge.Tests.Conversion;

/// <summary>Runs mapping kinds over tiny integer tensors: import to shards, export back.</summary>
internal static class KindHarness
{
    public static MemoryTensorSource Source(params (TensorMeta Meta, byte[] Data)[] tensors)
    {
        var source = new MemoryTensorSource("hf");
        foreach (var (meta, data) in tensors) source.Add(meta, data);
        return source;
    }

    /// <summary>The integer rows (first element of each row when H = 1) of TP shard <paramref name="rank"/>.</summary>
    public static int[] Shard(MappingKind kind, ITensorSource hf, int tp, int rank) =>
        TensorFactory.Ints(new RecipeExecutor().ExecuteToMemory(kind.ToMegatron(tp, rank, DType.I32), hf));

    /// <summary>Imports every kind at <paramref name="tp"/> into shards named by <see cref="ShardNames"/>.</summary>
    public static MemoryTensorSource Import(IEnumerable<MappingKind> kinds, ITensorSource hf, int tp)
    {
        var shards = new MemoryTensorSource("megatron");
        var executor = new RecipeExecutor();
        foreach (var kind in kinds)
        {
            for (int r = 0; r < tp; r++)
            {
                var recipe = kind.ToMegatron(tp, r, DType.I32, ShardNames.Of(kind.Megatron.Name, r, tp));
                shards.Add(recipe.Output, executor.ExecuteToMemory(recipe, hf));
            }
        }
        return shards;
    }

    /// <summary>Exports back to HF tensors: name -> bytes.</summary>
    public static Dictionary<string, byte[]> Export(IReadOnlyList<MappingKind> kinds, ITensorSource shards, int tp)
    {
        var executor = new RecipeExecutor();
        return RecipeBuilder.ToHf(kinds.Select(k => (k, tp)), _ => DType.I32)
            .ToDictionary(r => r.Output.Name, r => executor.ExecuteToMemory(r, shards));
    }
}
