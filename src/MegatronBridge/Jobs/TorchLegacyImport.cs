using System.Globalization;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>One <c>model_optim_rng.pt</c> to write: its rank coordinates and the local tensors it holds.</summary>
internal sealed record LegacyRankFile(int TpRank, int PpRank, int EpRank, string RelativePath, IReadOnlyList<LocalTensor> Tensors)
{
    public long Bytes => Tensors.Sum(t => t.Recipe.Output.ByteLength);
}

/// <summary>
/// Writes an HF checkpoint as Megatron-LM's legacy per-rank <c>torch</c> checkpoint (docs/formats.md, Legacy
/// per-rank checkpoints): one <c>iter_0000000/mp_rank_XX[_PPP][_EEE]/model_optim_rng.pt</c> per (TP, PP, EP) rank
/// holding that rank's in-memory state dict (TP-local slices, layers numbered per stage / virtual chunk under
/// <c>model0</c>, <c>model1</c>, ..., local expert numbers), <c>checkpoint_version</c> 3.0 and <c>iteration</c>, then
/// the tracker. Tensors stream from the source through their recipes into each file. Each TransformerEngine linear
/// gets its <c>_extra_state</c> (an empty uint8 tensor without FP8; None for Megatron's own output layer) after its
/// parameters, as <c>state_dict()</c> orders it.
/// </summary>
internal static class TorchLegacyImport
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
    /// <param name="names">How the MTP inner layer and the experts are named; <see cref="LegacyKeyNames.Default"/> when null.</param>
    public static IReadOnlyList<LegacyRankFile> PlanFiles(ImportPlan plan, LegacyKeyNames? names = null)
    {
        names ??= LegacyKeyNames.Default;
        var layout = plan.Layout;
        if (layout.Etp > layout.Tp || layout.Tp % layout.Etp != 0)
            throw new InvalidInputException($"legacy torch checkpoints hold one file per (TP, PP, EP) rank: expert-tensor-parallel size {layout.Etp} must divide tensor-parallel size {layout.Tp}");
        int epFiles = plan.Model.Provider.NumExperts > 0 ? layout.Ep : 1;
        var files = new List<LegacyRankFile>();
        for (int pp = 0; pp < layout.Pp; pp++)
        {
            for (int tp = 0; tp < layout.Tp; tp++)
            {
                for (int ep = 0; ep < epFiles; ep++)
                {
                    var tensors = plan.ForRank(pp, tp, ep, ExpertTensorRank(layout, tp)).OrderBy(t => t.VppChunk)
                        .Select(t => t with { LocalName = names.Apply(t.LocalName) }).ToList();
                    if (names.SequentialExperts) tensors = ExpertMajor(tensors);
                    var path = Path.Combine(LegacyCheckpointNames.RankFolder(tp, pp, ep, layout.Pp, epFiles), LegacyCheckpointNames.FileName);
                    files.Add(new LegacyRankFile(tp, pp, ep, path, tensors));
                }
            }
        }
        return files;
    }

    /// <summary>
    /// Sequential experts in the order SequentialMLP's <c>state_dict()</c> gives them: expert by expert, each expert's
    /// linear_fc1 then linear_fc2 (the plan lists every expert's linear_fc1 first, as TEGroupedMLP orders its weights).
    /// </summary>
    private static List<LocalTensor> ExpertMajor(List<LocalTensor> tensors)
    {
        var result = new List<LocalTensor>(tensors.Count);
        int i = 0;
        while (i < tensors.Count)
        {
            var owner = ExpertsModule(tensors[i].LocalName);
            int end = i + 1;
            if (owner != null)
            {
                while (end < tensors.Count && ExpertsModule(tensors[end].LocalName) == owner && tensors[end].VppChunk == tensors[i].VppChunk) end++;
                // Stable: within one expert the plan's linear_fc1-before-linear_fc2 order stays.
                result.AddRange(tensors.Skip(i).Take(end - i).OrderBy(t => ExpertIndex(t.LocalName, owner)));
            }
            else
            {
                result.Add(tensors[i]);
            }
            i = end;
        }
        return result;
    }

    private const string LocalExperts = ".mlp.experts.local_experts.";

    /// <summary>The <c>…mlp.experts.local_experts.</c> prefix of a sequential expert weight; null for other names.</summary>
    private static string? ExpertsModule(string name)
    {
        int at = name.IndexOf(LocalExperts, StringComparison.Ordinal);
        return at < 0 ? null : name[..(at + LocalExperts.Length)];
    }

    private static int ExpertIndex(string name, string owner)
    {
        var rest = name.AsSpan(owner.Length);
        return int.Parse(rest[..rest.IndexOf('.')], NumberStyles.None, CultureInfo.InvariantCulture);
    }

    private static readonly HashSet<string> TransformerEngineLinears = new(StringComparer.Ordinal)
    {
        "linear_qkv", "linear_proj", "in_proj", "out_proj", "linear_fc1", "linear_fc2", "eh_proj", "output_layer",
    };

    public const string ExtraStateSuffix = "._extra_state";

    /// <summary>The linear module whose <c>_extra_state</c> follows this weight (<c>x.weight</c> or grouped <c>x.weight{i}</c>), if any.</summary>
    public static string? ExtraStateModule(string localName)
    {
        int dot = localName.LastIndexOf('.');
        if (dot < 0) return null;
        var leaf = localName[(dot + 1)..];
        if (leaf != "weight" && !(leaf.StartsWith("weight", StringComparison.Ordinal) && leaf.Length > 6 && leaf.AsSpan(6).IndexOfAnyExceptInRange('0', '9') < 0))
            return null;
        var module = localName[..dot];
        return TransformerEngineLinears.Contains(module[(module.LastIndexOf('.') + 1)..]) ? module : null;
    }

    private static void AddExtraState(LegacyCheckpointWriter writer, HashSet<string> emitted, string modelKey, string module)
    {
        // Once per module, even if its parameters were not adjacent in the plan.
        if (!emitted.Add(modelKey + "/" + module)) return;
        writer.AddValue(modelKey, module + ExtraStateSuffix,
            module.EndsWith("output_layer", StringComparison.Ordinal) ? null : TorchDistWriter.EmptyUInt8Tensor());
    }

    /// <summary>
    /// Writes every rank file into <c>root/iter_0000000</c> (root must exist and be empty: the caller stages it), flushes
    /// them all to disk, then writes the tracker.
    /// </summary>
    public static IReadOnlyList<LegacyRankFile> Write(ImportPlan plan, ITensorSource hf, string root, RecipeExecutor executor, ConversionProgress? progress = null,
        LegacyKeyNames? names = null)
    {
        var files = PlanFiles(plan, names);
        var folder = MegatronCheckpointFolder.CreateIterationFolder(root, 0);
        // Rank files are independent: writing a few at once keeps both the disk and the kernel's page-cache copies
        // busy (each in-flight file holds at most two executor buffers, so memory stays bounded).
        BoundedParallel.ForEach(files, BoundedParallel.DefaultDegree, file =>
        {
            var writer = new LegacyCheckpointWriter(Path.Combine(folder, file.RelativePath)) { Iteration = 0, FlushToDisk = false };
            string? pending = null, pendingKey = null;
            var emitted = new HashSet<string>(StringComparer.Ordinal);
            foreach (var tensor in file.Tensors)
            {
                var key = ModelKey(plan.Layout, tensor.VppChunk);
                var module = tensor.LocalName[..Math.Max(0, tensor.LocalName.LastIndexOf('.'))];
                if (pending != null && (pending != module || pendingKey != key)) AddExtraState(writer, emitted, pendingKey!, pending);
                pending = ExtraStateModule(tensor.LocalName) ?? (pending == module && pendingKey == key ? pending : null);
                pendingKey = key;
                var recipe = tensor.Recipe;
                writer.AddTensor(key, tensor.LocalName, recipe.Output.DType, recipe.Output.Shape.ToArray(), sink =>
                    executor.Execute(recipe, hf, progress is null ? sink : new ProgressSink(sink, progress)));
            }
            if (pending != null) AddExtraState(writer, emitted, pendingKey!, pending);
            writer.Write();
        });
        // Flushed together at the end so the disk drains one file while the next is produced (the bytes still reach
        // the disk before the tracker and before the caller moves the staged folder into place).
        foreach (var file in files) LegacyCheckpointWriter.FlushFileToDisk(Path.Combine(folder, file.RelativePath));
        MegatronCheckpointFolder.WriteTracker(root, 0);
        return files;
    }
}
