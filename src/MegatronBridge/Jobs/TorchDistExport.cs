using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// Reads a torch_dist checkpoint back as Megatron in-memory parameters (global, TP=1 names), whatever chunk grid it
/// was saved with: the inverse of megatron-core's key layout, mapped onto byte ranges of the stored keys.
/// </summary>
internal static class TorchDistExport
{
    /// <summary>
    /// The checkpoint's tensors under the in-memory names of <paramref name="model"/>. Every parameter must be there with
    /// the shape the config implies; extra keys (optimizer state, rng, ...) are returned as skipped.
    /// </summary>
    public static (SegmentedTensorSource Parameters, IReadOnlyList<string> SkippedKeys) Open(ModelMapping model, TorchDistCheckpoint checkpoint)
    {
        var parameters = model.Parameters.ToList();
        var options = DistKeyOptions.ForMtpLayerName(MtpLayerName(checkpoint.Tensors.Select(t => t.Name), checkpoint.Folder));
        // Megatron stores each parameter in its own dtype; read it from the key that holds it.
        var probe = DistKeyPlanner.Plan(parameters, _ => DType.BF16, options);
        var dtypeOf = new Dictionary<string, DType>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var key in probe.Tensors)
        {
            if (!checkpoint.TryGet(key.Key, out var stored))
            {
                problems.Add($"{checkpoint.Folder}: missing tensor '{key.Key}' (expected shape [{string.Join(", ", key.GlobalShape)}])");
                continue;
            }
            if (!stored.Shape.AsSpan().SequenceEqual(key.GlobalShape))
            {
                problems.Add($"{checkpoint.Folder}: tensor '{key.Key}' has shape {stored.Shape} but the config (--hf-model) implies [{string.Join(", ", key.GlobalShape)}]");
                continue;
            }
            foreach (var chunk in key.Chunks) dtypeOf[chunk.Param] = stored.DType;
        }
        if (problems.Count > 0) throw new InvalidInputException(string.Join(Environment.NewLine, problems));

        var typed = parameters.Select(p => new TensorMeta(p.Name, dtypeOf[p.Name], p.Shape)).ToList();
        var plan = DistKeyPlanner.Plan(parameters, p => dtypeOf[p.Name], options);
        var segments = plan.ParamSegments();
        var source = new SegmentedTensorSource(checkpoint, checkpoint.Folder);
        foreach (var p in typed) source.Add(p, segments[p.Name]);

        var used = plan.Tensors.Select(k => k.Key).ToHashSet(StringComparer.Ordinal);
        return (source, SkippedKeys(checkpoint, used));
    }

    /// <summary>
    /// The MTP inner-layer name the checkpoint's keys use (<see cref="MtpLayerNames"/>); null when it has no MTP keys.
    /// A checkpoint that uses both is refused.
    /// </summary>
    public static string? MtpLayerName(IEnumerable<string> keys, string where)
    {
        string? found = null, example = null;
        foreach (var key in keys)
        {
            var name = MtpLayerNames.UsedBy(key);
            if (name == null) continue;
            if (found != null && found != name)
                throw new InvalidInputException($"{where}: MTP keys use both inner-layer names: '{example}' and '{key}'");
            (found, example) = (name, key);
        }
        return found;
    }

    /// <summary>
    /// The keys a weights-only export leaves unread and reports: tensors outside <paramref name="used"/> (optimizer state,
    /// ...) and objects other than <c>_extra_state</c> and the common state (rng, rerun state machine, ...).
    /// </summary>
    public static IReadOnlyList<string> SkippedKeys(TorchDistCheckpoint checkpoint, IReadOnlySet<string> used) =>
        checkpoint.Tensors.Select(t => t.Name).Where(n => !used.Contains(n))
            .Concat(checkpoint.ObjectKeys.Where(k => CheckpointKeys.IsReportedWhenSkipped(CheckpointKeys.Classify(k, isTensor: false))))
            .ToList();

    /// <summary>
    /// Every model weight of a checkpoint at its full global shape (whatever the chunk grid, reading only what is asked
    /// for), without any model mapping; the other keys are returned as skipped. For checkpoints of unknown models.
    /// </summary>
    public static (IReadOnlyList<TensorMeta> Weights, IReadOnlyList<string> SkippedKeys) ModelWeights(TorchDistCheckpoint checkpoint)
    {
        var weights = checkpoint.Tensors.Where(t => CheckpointKeys.Classify(t.Name, isTensor: true) == CheckpointKeyKind.ModelWeight).ToList();
        return (weights, SkippedKeys(checkpoint, weights.Select(w => w.Name).ToHashSet(StringComparer.Ordinal)));
    }
}
