using MegatronBridge.Conversion.DistKeys;

namespace MegatronBridge.Conversion;

/// <summary>
/// Collects the parameters of a Megatron module tree in module order. Model blocks add parameters through
/// <see cref="ModuleScope"/>s, which build each parameter's in-memory name and its torch_dist layout together.
/// </summary>
internal sealed class ModuleTree
{
    private readonly List<MegatronParam> _parameters = new();

    public IReadOnlyList<MegatronParam> Parameters => _parameters;

    /// <summary>
    /// The scope of the modules under <paramref name="prefix"/> ("" for the root, "language_model.", ...);
    /// <paramref name="stage"/> pins every parameter below it to one pipeline stage (a module outside the decoder).
    /// </summary>
    public ModuleScope Scope(string prefix, PipelineStage? stage = null) => new(this, prefix, prefix, Array.Empty<DistAxis>(), stage);

    internal void Add(MegatronParam param) => _parameters.Add(param);
}
