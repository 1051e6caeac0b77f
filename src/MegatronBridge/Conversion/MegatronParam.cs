using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>How a parameter is divided across tensor-parallel ranks.</summary>
internal enum TpSplit
{
    /// <summary>Every rank holds the whole tensor.</summary>
    Replicated,
    /// <summary>Dimension 0 is cut into equal contiguous chunks (column-parallel, QKV, fc1, in_proj, conv1d, ...).</summary>
    Dim0,
    /// <summary>Dimension 1 is cut into equal contiguous chunks (row-parallel linear weights).</summary>
    Dim1,
}

/// <summary>A Megatron parameter by its global (in-memory, unsplit) name and its TP=1 shape.</summary>
internal sealed record MegatronParam(string Name, TensorShape Shape)
{
    /// <summary>
    /// How a torch_dist checkpoint stores the parameter, set by the model block that builds it (see
    /// <see cref="ModuleScope"/>); null for a parameter made outside a model tree, which cannot be planned as torch_dist keys.
    /// </summary>
    public DistLayout? Dist { get; init; }

    /// <summary>
    /// The pipeline stage the model block put this parameter on (a vision encoder: the first); null for the language
    /// model's own modules, which megatron-core's GPT layout places by name (<see cref="MegatronNaming"/>).
    /// </summary>
    public PipelineStage? Stage { get; init; }

    /// <summary>Routed-expert weights are split by the expert-tensor-parallel size and distributed over EP ranks.</summary>
    public bool IsExpert => Name.Contains(".mlp.experts.", StringComparison.Ordinal);

    public override string ToString() => $"{Name} {Shape}";
}
