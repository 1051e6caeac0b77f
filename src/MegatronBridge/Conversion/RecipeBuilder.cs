using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>Turns the links of mapping kinds into <see cref="TensorRecipe"/>s, in either direction.</summary>
internal static class RecipeBuilder
{
    /// <summary>The recipe of one TP shard of a Megatron parameter; pieces read HF tensors by their checkpoint names.</summary>
    public static TensorRecipe ToMegatron(MappingKind kind, int tp, int rank, DType dtype, string outputName)
    {
        if (rank < 0 || rank >= tp)
            throw new ArgumentOutOfRangeException(nameof(rank), $"{kind.Megatron.Name}: TP rank {rank} outside [0, {tp})");
        var shape = kind.ShardShape(tp);
        var pieces = kind.Links(tp)
            .Where(l => l.ShardRank == rank)
            .Select(l => new TensorPiece(l.HfName, l.HfView, l.MegatronView))
            .ToList();
        var output = new TensorMeta(outputName, dtype, shape);
        RequireCovered(output, pieces, kind.ToString());
        return new TensorRecipe(output, pieces, kind.ImportOp);
    }

    /// <summary>
    /// Export recipes for every HF tensor the given mappings touch (a packed expert tensor is assembled from the
    /// mappings of all its experts). Pieces read Megatron shards named by <paramref name="sourceName"/>
    /// (default <see cref="ShardNames.Of"/> of the global name). Output dtype = the contributing parameter's dtype.
    /// Order: first appearance among the mappings.
    /// </summary>
    public static IReadOnlyList<TensorRecipe> ToHf(
        IEnumerable<(MappingKind Kind, int Tp)> kinds,
        Func<MegatronParam, DType> dtypeOf,
        Func<MegatronParam, int, int, string>? sourceName = null)
    {
        sourceName ??= (p, rank, size) => ShardNames.Of(p.Name, rank, size);
        var order = new List<string>();
        var groups = new Dictionary<string, (HfTensorDecl Decl, DType DType, ElementOp Op, List<TensorPiece> Pieces, string Owner)>(StringComparer.Ordinal);
        foreach (var (kind, tp) in kinds)
        {
            var dtype = dtypeOf(kind.Megatron);
            foreach (var decl in kind.HfTensors)
            {
                if (groups.TryGetValue(decl.Name, out var g))
                {
                    if (g.Decl.Shape != decl.Shape)
                        throw new InvalidInputException($"{decl.Name}: {kind.Megatron.Name} expects shape {decl.Shape}, {g.Owner} expects {g.Decl.Shape}");
                    if (g.DType != dtype)
                        throw new InvalidInputException($"{decl.Name}: assembled from parameters of different dtypes ({g.DType} from {g.Owner}, {dtype} from {kind.Megatron.Name})");
                    if (g.Op != kind.ExportOp)
                        throw new InvalidInputException($"{decl.Name}: mappings disagree on the element operation");
                }
                else
                {
                    groups[decl.Name] = (decl, dtype, kind.ExportOp, new List<TensorPiece>(), kind.Megatron.Name);
                    order.Add(decl.Name);
                }
            }
            foreach (var link in kind.Links(tp))
            {
                if (!link.Exported) continue;
                if (!groups.TryGetValue(link.HfName, out var g))
                    throw new InvalidOperationException($"{kind}: link to undeclared HF tensor {link.HfName}");
                var (from, to) = InDestinationOrder(link.MegatronView, link.HfView);
                g.Pieces.Add(new TensorPiece(sourceName(kind.Megatron, link.ShardRank, tp), from, to));
            }
        }
        var recipes = new List<TensorRecipe>(order.Count);
        foreach (var name in order)
        {
            var g = groups[name];
            var output = new TensorMeta(name, g.DType, g.Decl.Shape);
            RequireCovered(output, g.Pieces, $"HF tensor {name}");
            recipes.Add(new TensorRecipe(output, g.Pieces, g.Op));
        }
        return recipes;
    }

    /// <summary>
    /// Permutes the dimensions of both windows alike so that the destination is walked in memory order. A transposed
    /// destination (the Qwen3-VL-MoE hub expert layout) then becomes a contiguous write fed by a strided gather,
    /// instead of element-by-element writes. The element correspondence is unchanged.
    /// </summary>
    internal static (StridedView From, StridedView To) InDestinationOrder(StridedView from, StridedView to)
    {
        var order = Enumerable.Range(0, to.Rank).OrderByDescending(d => to.Strides[d]).ThenBy(d => d).ToArray();
        if (order.Select((d, i) => d == i).All(x => x)) return (from, to);
        StridedView Permute(StridedView v) => new(v.Offset, order.Select(d => v.Shape[d]).ToArray(), order.Select(d => v.Strides[d]).ToArray());
        return (Permute(from), Permute(to));
    }

    /// <summary>Every output element must be written exactly once (counted; the pieces are disjoint by construction).</summary>
    private static void RequireCovered(TensorMeta output, IReadOnlyList<TensorPiece> pieces, string what)
    {
        long covered = pieces.Sum(p => p.To.NumElements);
        if (covered != output.NumElements)
            throw new InvalidInputException($"{what}: the mappings cover {covered} of the {output.NumElements} elements of {output.Name} {output.Shape}"
                                           + (covered < output.NumElements ? " (missing experts or shards?)" : ""));
    }
}
