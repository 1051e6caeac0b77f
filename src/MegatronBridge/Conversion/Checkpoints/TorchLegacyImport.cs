using System.Globalization;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Checkpoints;

/// <summary>One <c>model_optim_rng.pt</c> to write: its rank coordinates and the local tensors it holds.</summary>
public sealed record LegacyRankFile(int TpRank, int PpRank, int EpRank, string RelativePath, IReadOnlyList<LocalTensor> Tensors)
{
    public long Bytes => Tensors.Sum(t => t.Recipe.Output.ByteLength);
}

/// <summary>
/// Writes an HF checkpoint as Megatron-LM's legacy per-rank <c>torch</c> checkpoint (spec §6): one
/// <c>iter_0000000/mp_rank_XX[_PPP][_EEE]/model_optim_rng.pt</c> per (TP, PP, EP) rank holding that rank's in-memory
/// state dict (TP-local slices, layers numbered per stage / virtual chunk under <c>model0</c>, <c>model1</c>, ..., local
/// expert numbers), <c>checkpoint_version</c> 3.0 and <c>iteration</c>, then the tracker. Tensors stream from the
/// source through their recipes into each file. TransformerEngine <c>_extra_state</c> entries are not written
/// (Megatron's legacy loader retries with strict=False, which tolerates their absence).
/// </summary>
public static class TorchLegacyImport
{
    /// <summary>The state dict key of virtual pipeline chunk <paramref name="vppChunk"/>.</summary>
    public static string ModelKey(ParallelLayout layout, int vppChunk) =>
        layout.Vpp == 1 ? "model" : "model" + vppChunk.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The expert-tensor rank whose expert shards the file of TP rank <paramref name="tpRank"/> holds. Expert-TP must
    /// divide TP (ETP = TP, the default, or ETP = 1 when experts are not split).
    /// </summary>
    public static int ExpertTensorRank(ParallelLayout layout, int tpRank) => tpRank % layout.Etp;

    /// <summary>Every rank file of the layout with its tensors, in (PP, TP, EP) order; nothing is read or written.</summary>
    public static IReadOnlyList<LegacyRankFile> PlanFiles(ImportPlan plan)
    {
        var layout = plan.Layout;
        if (layout.Etp > layout.Tp || layout.Tp % layout.Etp != 0)
            throw new NotSupportedException($"legacy torch checkpoints hold one file per (TP, PP, EP) rank: expert-tensor-parallel size {layout.Etp} must divide tensor-parallel size {layout.Tp}");
        int epFiles = plan.Model.Provider.NumExperts > 0 ? layout.Ep : 1;
        var files = new List<LegacyRankFile>();
        for (int pp = 0; pp < layout.Pp; pp++)
        {
            for (int tp = 0; tp < layout.Tp; tp++)
            {
                for (int ep = 0; ep < epFiles; ep++)
                {
                    var tensors = plan.ForRank(pp, tp, ep, ExpertTensorRank(layout, tp)).OrderBy(t => t.VppChunk).ToList();
                    var path = Path.Combine(LegacyCheckpointNames.RankFolder(tp, pp, ep, layout.Pp, epFiles), LegacyCheckpointNames.FileName);
                    files.Add(new LegacyRankFile(tp, pp, ep, path, tensors));
                }
            }
        }
        return files;
    }

    /// <summary>Writes every rank file into <c>root/iter_0000000</c> (root must exist and be empty: the caller stages it), then the tracker.</summary>
    public static IReadOnlyList<LegacyRankFile> Write(ImportPlan plan, ITensorSource hf, string root, RecipeExecutor executor, ConversionProgress? progress = null)
    {
        var files = PlanFiles(plan);
        var folder = MegatronCheckpointFolder.CreateIterationFolder(root, 0);
        foreach (var file in files)
        {
            var writer = new LegacyCheckpointWriter(Path.Combine(folder, file.RelativePath)) { Iteration = 0 };
            foreach (var tensor in file.Tensors)
            {
                var recipe = tensor.Recipe;
                writer.AddTensor(ModelKey(plan.Layout, tensor.VppChunk), tensor.LocalName, recipe.Output.DType, recipe.Output.Shape.ToArray(), sink =>
                    executor.Execute(recipe, hf, progress is null ? sink : new ProgressSink(sink, progress)));
            }
            writer.Write();
        }
        MegatronCheckpointFolder.WriteTracker(root, 0);
        return files;
    }
}
