using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// One resolved mapping: a Megatron parameter, the HF tensors it comes from, and the links that say which elements
/// go where at a given tensor-parallel size. Subclasses only enumerate links; both directions derive from them.
/// </summary>
internal abstract class MappingKind
{
    protected MappingKind(MegatronParam megatron, IReadOnlyList<HfTensorDecl> hfTensors)
    {
        Megatron = megatron;
        HfTensors = hfTensors;
    }

    public MegatronParam Megatron { get; }

    /// <summary>The HF tensors this mapping reads on import and writes (in part, for packed experts) on export.</summary>
    public IReadOnlyList<HfTensorDecl> HfTensors { get; }

    /// <summary>A short name for messages ("QKV", "GatedMlp", ...).</summary>
    public abstract string KindName { get; }

    public abstract TpSplit Split { get; }

    /// <summary>The element change applied on import (only the GDN output norm has one).</summary>
    public virtual ElementOp ImportOp => ElementOp.None;

    public virtual ElementOp ExportOp => ElementOp.None;

    /// <summary>The shape of one TP shard of the parameter.</summary>
    public TensorShape ShardShape(int tp)
    {
        var shape = Megatron.Shape;
        int axis = Split switch
        {
            TpSplit.Dim0 => 0,
            TpSplit.Dim1 when shape.Rank >= 2 => 1,
            _ => -1,
        };
        if (axis < 0 || tp == 1) return shape;
        if (shape[axis] % tp != 0)
            throw new InvalidInputException($"{Megatron.Name}: dimension {axis} of size {shape[axis]} is not divisible by the tensor-parallel size {tp}");
        return shape.WithDim(axis, shape[axis] / tp);
    }

    /// <summary>The element correspondences at tensor-parallel size <paramref name="tp"/>.</summary>
    public IReadOnlyList<ViewLink> Links(int tp)
    {
        if (tp < 1) throw new ArgumentOutOfRangeException(nameof(tp), $"{Megatron.Name}: tensor-parallel size {tp}");
        // Planning asks for the same links once per shard and again on export; one size is cached.
        var cached = _links;
        if (cached is not null && cached.Tp == tp) return cached.Links;
        var links = BuildLinks(tp, ShardShape(tp));
        _links = new LinkCache(tp, links); // one reference write: safe to read from other threads
        return links;
    }

    private sealed record LinkCache(int Tp, IReadOnlyList<ViewLink> Links);

    private LinkCache? _links;

    protected abstract IReadOnlyList<ViewLink> BuildLinks(int tp, TensorShape shardShape);

    /// <summary>Import: the recipe of TP shard <paramref name="rank"/>, reading HF tensors by name.</summary>
    public TensorRecipe ToMegatron(int tp, int rank, DType dtype, string? outputName = null) =>
        RecipeBuilder.ToMegatron(this, tp, rank, dtype, outputName ?? Megatron.Name);

    /// <summary>
    /// Export: recipes of the HF tensors, reading the shards named by <see cref="ShardNames.Of"/>. Only valid when this
    /// mapping covers its HF tensors whole (a packed expert tensor needs all experts: use <see cref="RecipeBuilder.ToHf"/>).
    /// </summary>
    public IReadOnlyList<TensorRecipe> ToHf(int tp, DType dtype) =>
        RecipeBuilder.ToHf(new[] { (this, tp) }, _ => dtype);

    public override string ToString() => $"{KindName} {Megatron.Name} <- {string.Join(", ", HfTensors.Select(t => t.Name))}";

    protected InvalidInputException Bad(string message) => new($"{Megatron.Name} ({KindName}): {message}");

    protected void RequireDivisible(long value, int by, string what)
    {
        if (by <= 0 || value % by != 0)
            throw Bad($"{what} = {value} is not divisible by {by}");
    }

    protected void RequireShape(StridedView view, string what, params long[] expected)
    {
        if (!view.Shape.AsSpan().SequenceEqual(expected))
            throw Bad($"{what} has shape [{string.Join(", ", view.Shape)}], expected [{string.Join(", ", expected)}]");
    }
}
