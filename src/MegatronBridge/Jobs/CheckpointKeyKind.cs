using MegatronBridge.Conversion;

namespace MegatronBridge.Jobs;

/// <summary>What a key of a Megatron checkpoint holds, as far as a weights-only export cares.</summary>
public enum CheckpointKeyKind
{
    ModelWeight,
    /// <summary>TransformerEngine / Megatron module <c>_extra_state</c> (FP8 metadata or empty): never needed.</summary>
    ExtraState,
    /// <summary>The common state (<c>common_state/...</c>): iteration, checkpoint_version, ...</summary>
    CommonState,
    Optimizer,
    RngState,
    RerunState,
    /// <summary>Any other non-weight object a training run saves (scheduler, counters, ...).</summary>
    OtherState,
}

internal static class CheckpointKeys
{
    /// <summary>Classifies a torch_dist key (tensor key or object unique key) or a legacy top-level key.</summary>
    public static CheckpointKeyKind Classify(string key, bool isTensor)
    {
        string name = key.Split('/')[0];
        if (name.EndsWith("._extra_state", StringComparison.Ordinal) || name == "_extra_state" || name.Contains("._extra_state.", StringComparison.Ordinal))
            return CheckpointKeyKind.ExtraState;
        if (name == "common_state" || name == "common") return CheckpointKeyKind.CommonState;
        if (name.StartsWith("optimizer", StringComparison.Ordinal) || name.StartsWith("opt_param_scheduler", StringComparison.Ordinal)) return CheckpointKeyKind.Optimizer;
        if (name.StartsWith("rng_state", StringComparison.Ordinal)) return CheckpointKeyKind.RngState;
        if (name.StartsWith("rerun_state_machine", StringComparison.Ordinal)) return CheckpointKeyKind.RerunState;
        return isTensor ? CheckpointKeyKind.ModelWeight : CheckpointKeyKind.OtherState;
    }

    /// <summary>Keys an export skips and reports: anything that is neither a weight, an <c>_extra_state</c> nor the common state.</summary>
    public static bool IsReportedWhenSkipped(CheckpointKeyKind kind) =>
        kind is not (CheckpointKeyKind.ExtraState or CheckpointKeyKind.CommonState);
}
