using MegatronBridge.Conversion.DistKeys;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Jobs;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Tests.Jobs;

/// <summary>Options of a simulated training save.</summary>
internal sealed record TrainingSave(int Tp, int Pp, int Ep)
{
    /// <summary>Write the common state as common.pt (megatron-core &lt;= 0.18) instead of the common_state object.</summary>
    public bool CommonPt { get; init; }
    /// <summary>release/ + tracker "release" instead of iter_0001000/ + tracker "1000".</summary>
    public bool Release { get; init; }
    /// <summary>Add optimizer-state tensors, rng and rerun-state objects as a training run saves them.</summary>
    public bool TrainingState { get; init; }
    /// <summary>Writer threads per rank (<c>__rank_thread.distcp</c>); keys alternate between them.</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>
/// Writes an HF fixture as the torch_dist checkpoint a TP x PP x EP training run saves: every process writes its own
/// <c>__rank_0.distcp</c> (rank = tp + TP·dp + TP·EP·pp, the expert-parallel rank being the data-parallel rank, so
/// non-expert chunks come from dp 0); each key's chunks are cut on the parameter's TP axis (dim 0 for column-parallel,
/// dim 1 for row-parallel, none for replicated), experts on their own chunks per EP rank, pipeline stages by layer.
/// The chunk bytes come from the import recipes, independently of the reader under test.
/// </summary>
internal static class TrainingCheckpointFixture
{
    public const long Iteration = 1000;

    /// <returns>The keys of non-weight state written (for the expected skipped list).</returns>
    public static IReadOnlyList<string> Write(string hfDir, string root, TrainingSave save)
    {
        using var hf = SafetensorsCheckpoint.Open(hfDir);
        var (_, mapping) = BridgeMappings.ForHfFolder(hfDir, hf);
        var plan = ImportPlan.Create(mapping, hf.Tensors, ParallelLayout.Single);
        var recipes = plan.Tensors.Where(t => !t.IsDuplicate).ToDictionary(t => t.LocalName, t => t.Recipe, StringComparer.Ordinal);
        var split = mapping.Mappings.ToDictionary(m => m.Megatron.Name, m => m.Split, StringComparer.Ordinal);
        var keys = DistKeyPlanner.Plan(plan.Tensors.Where(t => !t.IsDuplicate).Select(t => t.Param), p => recipes[p.Name].Output.DType, new DistKeyOptions());
        var naming = mapping.Naming(new ParallelLayout(1, save.Pp, 1, mapping.Provider.NumExperts > 0 ? save.Ep : 1));
        var executor = new RecipeExecutor();

        var folder = MegatronCheckpointFolder.CreateIterationFolder(root, save.Release ? null : Iteration);
        var writer = new TorchDistWriter(folder) { SaveId = "training" };
        var other = new List<string>();
        int keyIndex = 0;
        foreach (var key in keys.Tensors)
        {
            int thread = keyIndex++ % save.Threads;
            var chunks = new List<TorchDistChunk>();
            foreach (var c in key.Chunks)
            {
                var recipe = recipes[c.Param];
                var place = naming.Place(c.Param);
                int dp = place.EpRank < 0 ? 0 : place.EpRank;
                int paramRank = recipe.Output.Shape.Rank;
                int axis = split[c.Param] switch
                {
                    TpSplit.Dim0 => c.Sizes.Length - paramRank,
                    TpSplit.Dim1 => c.Sizes.Length - paramRank + 1,
                    _ => -1,
                };
                int parts = axis >= 0 && c.Sizes[axis] % save.Tp == 0 ? save.Tp : 1;
                var bytes = new Lazy<byte[]>(() =>
                {
                    var part = c.RowStart == 0 && c.RowCount == recipe.Output.Shape[0] ? recipe : recipe.NarrowRows(c.RowStart, c.RowCount);
                    var sink = new MemoryTensorSink(part.Output.ByteLength);
                    executor.Execute(part, hf, sink);
                    return sink.Buffer;
                });
                for (int t = 0; t < parts; t++)
                {
                    var offsets = (long[])c.Offsets.Clone();
                    var sizes = (long[])c.Sizes.Clone();
                    if (parts > 1)
                    {
                        sizes[axis] = c.Sizes[axis] / parts;
                        offsets[axis] += t * sizes[axis];
                    }
                    int rank = t + save.Tp * dp + save.Tp * save.Ep * place.PpRank;
                    int piece = t;
                    chunks.Add(new TorchDistChunk(offsets, sizes, sink => sink.Write(0, Slice(bytes.Value, c.Sizes, axis, parts, piece, key.DType.Size())))
                        { WriterRank = rank, WriterThread = thread });
                }
            }
            writer.AddTensor(key.Key, key.DType, key.GlobalShape, chunks);
        }
        foreach (var obj in keys.Objects)
            writer.AddObject(obj.UniqueKey, new[] { obj.Value == ExtraStateValue.None ? null : TorchDistWriter.EmptyUInt8Tensor() });
        if (save.TrainingState)
        {
            // Adam moments of two weights, fp32, saved beside them; rng and rerun state as objects.
            foreach (var key in keys.Tensors.Take(2))
            {
                var name = "optimizer.state.exp_avg." + key.Key;
                long bytes = new TensorShape(key.GlobalShape).NumElements * 4;
                writer.AddTensor(name, DType.F32, key.GlobalShape, sink => sink.Write(0, new byte[bytes]));
                other.Add(name);
            }
            writer.AddObject("rng_state/shard_0.0_1.1", new object?[] { new PyDict().Add("random_rng_state", 42L) });
            writer.AddObject("rerun_state_machine_state/shard_0.0_1.1", new object?[] { new PyDict().Add("mode", "disabled") });
            other.Add("rng_state/shard_0.0_1.1");
            other.Add("rerun_state_machine_state/shard_0.0_1.1");
        }
        var common = TorchDistImport.CommonState(save.Release ? 0 : Iteration);
        if (save.CommonPt) writer.CommonPt = common;
        else writer.AddObject(TorchDistCheckpoint.CommonStateKey, new object?[] { common });
        writer.Write();
        MegatronCheckpointFolder.WriteTracker(root, save.Release ? null : Iteration);
        return other;
    }

    /// <summary>Piece <paramref name="piece"/> of <paramref name="parts"/> along <paramref name="axis"/> of a row-major array.</summary>
    private static byte[] Slice(byte[] data, long[] sizes, int axis, int parts, int piece, int elementSize)
    {
        if (parts == 1) return data;
        long outer = 1, inner = elementSize;
        for (int i = 0; i < axis; i++) outer *= sizes[i];
        for (int i = axis + 1; i < sizes.Length; i++) inner *= sizes[i];
        long span = sizes[axis] / parts * inner;
        var result = new byte[outer * span];
        for (long o = 0; o < outer; o++)
            Array.Copy(data, o * sizes[axis] * inner + piece * span, result, o * span, span);
        return result;
    }
}
