using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// A position in a Megatron module tree: the prefix of the in-memory names below it, the prefix of the torch_dist keys
/// megatron-core stores them under, and the stacked axes they sit on. A module list either keeps one key per entry
/// (<see cref="Entry"/>) or stacks its entries on a leading axis of one key (<see cref="StackedEntry"/>): which one is
/// the block's choice, as it is megatron-core's module's (TransformerBlock stacks its layers unless
/// <c>hetereogenous_dist_checkpoint</c> is set; grouped experts stack on the expert axis).
/// </summary>
internal sealed class ModuleScope
{
    private readonly ModuleTree _tree;
    private readonly IReadOnlyList<DistAxis> _axes;
    private readonly PipelineStage? _stage;

    internal ModuleScope(ModuleTree tree, string name, string key, IReadOnlyList<DistAxis> axes, PipelineStage? stage)
    {
        _tree = tree;
        Name = name;
        Key = key;
        _axes = axes;
        _stage = stage;
    }

    /// <summary>In-memory name prefix, ending in "." unless empty.</summary>
    public string Name { get; }

    /// <summary>torch_dist key prefix.</summary>
    public string Key { get; }

    /// <summary>The submodule <paramref name="module"/> (may contain dots: "self_attention.linear_qkv").</summary>
    public ModuleScope Module(string module) => new(_tree, $"{Name}{module}.", $"{Key}{module}.", _axes, _stage);

    /// <summary>Entry <paramref name="index"/> of the module list <paramref name="list"/>, stored under its own key.</summary>
    public ModuleScope Entry(string list, int index) => new(_tree, $"{Name}{list}.{index}.", $"{Key}{list}.{index}.", _axes, _stage);

    /// <summary>Entry <paramref name="index"/> of the module list <paramref name="list"/> of <paramref name="count"/> entries, stacked on a leading axis.</summary>
    public ModuleScope StackedEntry(string list, int index, int count) =>
        new(_tree, $"{Name}{list}.{index}.", $"{Key}{list}.", _axes.Append(new DistAxis(index, count)).ToArray(), _stage);

    /// <summary>Entry <paramref name="index"/> of <paramref name="list"/>, stacked when <paramref name="stacked"/>, else under its own key.</summary>
    public ModuleScope Entry(string list, int index, int count, bool stacked) =>
        stacked ? StackedEntry(list, index, count) : Entry(list, index);

    /// <summary>Adds the parameter <paramref name="name"/> of this module.</summary>
    public MegatronParam Param(string name, TensorShape shape, DistRows? rows = null) =>
        Add(new MegatronParam(Name + name, shape) { Dist = new DistLayout(Key + name, _axes, rows ?? DistRows.Whole), Stage = _stage });

    /// <summary>
    /// Adds entry <paramref name="index"/> of a grouped parameter of <paramref name="count"/> entries, named
    /// <c>{name}{index}</c> in memory (TEGroupedMLP's <c>weight0</c>, <c>weight1</c>, ...) and stacked on a leading
    /// axis of the key <paramref name="name"/>.
    /// </summary>
    public MegatronParam GroupedParam(string name, int index, int count, TensorShape shape, DistRows? rows = null) =>
        Add(new MegatronParam($"{Name}{name}{index}", shape)
        {
            Dist = new DistLayout(Key + name, _axes.Append(new DistAxis(index, count)).ToArray(), rows ?? DistRows.Whole),
            Stage = _stage,
        });

    private MegatronParam Add(MegatronParam param)
    {
        _tree.Add(param);
        return param;
    }

    public override string ToString() => Name;
}
