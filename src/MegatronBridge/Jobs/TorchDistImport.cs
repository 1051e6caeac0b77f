using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// Writes an HF checkpoint as the torch_dist checkpoint Megatron-Bridge's import produces: global (TP-independent)
/// tensors under megatron-core's sharded keys, TransformerEngine <c>_extra_state</c> objects, and the common state,
/// in <c>iter_0000000/</c> beside <c>latest_checkpointed_iteration.txt</c>. Tensors stream from the source through
/// their recipes straight into the data file.
/// </summary>
internal static class TorchDistImport
{
    /// <summary>What megatron-core >= 0.19 stores as the common state of a weights-only import.</summary>
    public static PyDict CommonState(long iteration) => new PyDict()
        .Add("checkpoint_version", 3.0)
        .Add("iteration", iteration)
        .Add("content_metadata", new PyDict().Add("singleton_local_shards", false).Add("chained_optim_avoid_prefix", true));

    /// <summary>
    /// Writes the checkpoint into <paramref name="root"/> (which must exist and be empty: the caller stages it).
    /// <paramref name="finalRoot"/> is where the caller moves it when complete: the metadata's checkpoint id names the
    /// iteration folder there, as torch's FileSystemWriter records the directory Megatron saved into, not the staging
    /// folder (null: <paramref name="root"/> is final).
    /// </summary>
    /// <param name="mtpLayerName">The MTP inner-layer key name (<see cref="MtpLayerNames"/>); null for <c>transformer_layer</c>, what current megatron-core reads.</param>
    /// <returns>The planned keys, for reports and tests.</returns>
    public static DistKeyPlan Write(ImportPlan plan, ITensorSource hf, string root, RecipeExecutor executor, ConversionProgress? progress = null, string? saveId = null,
        string? mtpLayerName = null, string? finalRoot = null)
    {
        if (plan.Layout != ParallelLayout.Single && (plan.Layout.Tp, plan.Layout.Pp, plan.Layout.Ep) != (1, 1, 1))
            throw new ArgumentException("torch_dist checkpoints hold TP=1 global tensors: plan the import with the single layout");
        var recipes = plan.Tensors.Where(t => !t.IsDuplicate).ToDictionary(t => t.Param.Name, t => t.Recipe, StringComparer.Ordinal);
        // One tensor per parameter (the layout is single): each is stored in the dtype its recipe produces.
        var dtypes = plan.Tensors.Where(t => !t.IsDuplicate).ToDictionary(t => t.Param.Name, t => t.Recipe.Output.DType, StringComparer.Ordinal);
        var keys = DistKeyPlanner.Plan(plan.Tensors.Where(t => !t.IsDuplicate).Select(t => t.Param), p => dtypes[p.Name], DistKeyOptions.ForMtpLayerName(mtpLayerName));

        var folder = MegatronCheckpointFolder.CreateIterationFolder(root, 0);
        var checkpointId = finalRoot is null ? null : Path.Combine(finalRoot, Path.GetFileName(folder));
        var writer = new TorchDistWriter(folder) { SaveId = saveId, CheckpointId = checkpointId };
        foreach (var key in keys.Tensors)
        {
            var chunks = key.Chunks.Select(c => new TorchDistChunk(c.Offsets, c.Sizes, sink =>
            {
                var recipe = recipes[c.Param];
                var part = c.RowStart == 0 && c.RowCount == recipe.Output.Shape[0] ? recipe : recipe.NarrowRows(c.RowStart, c.RowCount);
                executor.Execute(part, hf, progress is null ? sink : new ProgressSink(sink, progress));
            }, c.IndexHint)).ToList();
            writer.AddTensor(key.Key, key.DType, key.GlobalShape, chunks);
        }
        foreach (var obj in keys.Objects)
        {
            object? value = obj.Value == ExtraStateValue.None ? null : TorchDistWriter.EmptyUInt8Tensor();
            writer.AddObject(obj.UniqueKey, new[] { value });
        }
        writer.AddObject(TorchDistCheckpoint.CommonStateKey, new object?[] { CommonState(0) });
        writer.Write();
        // Megatron-Bridge's own loader reads the step from latest_train_state.pt (it rejects tracker 0 alone).
        MegatronCheckpointFolder.WriteTrainState(root, folder, 0);
        MegatronCheckpointFolder.WriteTracker(root, 0);
        return keys;
    }
}
