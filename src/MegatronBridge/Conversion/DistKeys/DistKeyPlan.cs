using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.DistKeys;

/// <summary>
/// One chunk of a torch_dist tensor key: rows [RowStart, RowStart+RowCount) of the in-memory Megatron parameter
/// <see cref="Param"/> (TP=1, full), stored at <see cref="Offsets"/> of the key's global tensor with
/// <see cref="Sizes"/> (which include the length-1 prepended layer/expert axes).
/// </summary>
internal sealed record DistChunk(string Param, long RowStart, long RowCount, long[] Offsets, long[] Sizes, int? IndexHint);

/// <summary>A torch_dist tensor key with its global shape and chunks, in write order.</summary>
internal sealed record DistTensorKey(string Key, DType DType, long[] GlobalShape, IReadOnlyList<DistChunk> Chunks);

/// <summary>What a ShardedObject holds for a module's TransformerEngine <c>_extra_state</c>.</summary>
internal enum ExtraStateValue
{
    /// <summary>TransformerEngine without FP8: an empty uint8 tensor.</summary>
    EmptyUint8Tensor,
    /// <summary>Megatron's own Column/RowParallelLinear: None.</summary>
    None,
}

/// <summary>A ShardedObject entry, named by its unique key (<c>key/shard_offsets_shape</c>).</summary>
internal sealed record DistObjectKey(string UniqueKey, ExtraStateValue Value);

/// <summary>Everything a torch_dist checkpoint holds for a model: tensor keys and objects, in first-occurrence order.</summary>
internal sealed record DistKeyPlan(IReadOnlyList<DistTensorKey> Tensors, IReadOnlyList<DistObjectKey> Objects);

internal static class DistKeyPlanExtensions
{
    /// <summary>
    /// For each in-memory parameter, the byte ranges of the stored keys it is made of, in row order: the inverse of
    /// the plan, used to read a torch_dist checkpoint back as Megatron parameters.
    /// </summary>
    public static Dictionary<string, List<ByteSegment>> ParamSegments(this DistKeyPlan plan)
    {
        var result = new Dictionary<string, List<(long RowStart, ByteSegment Segment)>>(StringComparer.Ordinal);
        foreach (var key in plan.Tensors)
        {
            var strides = new TensorShape(key.GlobalShape).ContiguousStrides();
            int elem = key.DType.Size();
            foreach (var chunk in key.Chunks)
            {
                long start = 0, count = 1;
                for (int i = 0; i < strides.Length; i++) start += chunk.Offsets[i] * strides[i];
                foreach (var s in chunk.Sizes) count *= s;
                if (!result.TryGetValue(chunk.Param, out var list)) result[chunk.Param] = list = new();
                list.Add((chunk.RowStart, new ByteSegment(key.Key, start * elem, count * elem)));
            }
        }
        return result.ToDictionary(kv => kv.Key, kv => kv.Value.OrderBy(x => x.RowStart).Select(x => x.Segment).ToList(), StringComparer.Ordinal);
    }
}
