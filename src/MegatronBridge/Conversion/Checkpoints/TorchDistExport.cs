using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Checkpoints;

/// <summary>
/// Reads a torch_dist checkpoint back as Megatron in-memory parameters (global, TP=1 names), whatever chunk grid it
/// was saved with: the inverse of megatron-core's key layout, mapped onto byte ranges of the stored keys.
/// </summary>
public static class TorchDistExport
{
    /// <summary>
    /// The checkpoint's tensors under the in-memory names of <paramref name="model"/>. Every parameter must be there with
    /// the shape the config implies; extra keys (optimizer state, rng, ...) are returned as skipped.
    /// </summary>
    public static (SegmentedTensorSource Parameters, IReadOnlyList<string> SkippedKeys) Open(ModelMapping model, TorchDistCheckpoint checkpoint)
    {
        var parameters = model.Parameters.ToList();
        // Megatron stores each parameter in its own dtype; read it from the key that holds it.
        var probe = DistKeyPlanner.Plan(parameters.Select(p => new TensorMeta(p.Name, DType.BF16, p.Shape)), DistKeyOptionsFactory.From(model.Provider));
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
        if (problems.Count > 0) throw new InvalidDataException(string.Join(Environment.NewLine, problems));

        var typed = parameters.Select(p => new TensorMeta(p.Name, dtypeOf[p.Name], p.Shape)).ToList();
        var plan = DistKeyPlanner.Plan(typed, DistKeyOptionsFactory.From(model.Provider));
        var segments = plan.ParamSegments();
        var source = new SegmentedTensorSource(checkpoint, checkpoint.Folder);
        foreach (var p in typed) source.Add(p, segments[p.Name]);

        var used = plan.Tensors.Select(k => k.Key).ToHashSet(StringComparer.Ordinal);
        var skipped = checkpoint.Tensors.Select(t => t.Name).Where(n => !used.Contains(n)).ToList();
        return (source, skipped);
    }
}
