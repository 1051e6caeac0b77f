using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>Options of an HF to Megatron plan.</summary>
internal sealed record ImportOptions
{
    /// <summary>
    /// The Megatron parameter dtype; null means the provider's <c>params_dtype</c> (Megatron casts every parameter to
    /// it; docs/mappings.md, dtypes), or each HF tensor's own dtype when that name is not a known dtype.
    /// </summary>
    public DType? ParamDType { get; init; }

    /// <summary>HF tensors that may be present without being mapped (exact names); anything else left over is an error.</summary>
    public IReadOnlyCollection<string> IgnoredHfTensors { get; init; } = Array.Empty<string>();
}

/// <summary>
/// HF to Megatron: for every rank of a <see cref="ParallelLayout"/>, the local tensors and their recipes over the HF
/// checkpoint. Planning checks that every Megatron parameter is produced from tensors that exist with the expected
/// shapes and that every HF tensor is consumed; all problems are reported together.
/// </summary>
internal sealed class ImportPlan
{
    private ImportPlan(ModelMapping model, ParallelLayout layout, IReadOnlyList<LocalTensor> tensors, IReadOnlyList<string> ignored)
    {
        Model = model;
        Layout = layout;
        Tensors = tensors;
        IgnoredHfTensors = ignored;
    }

    public ModelMapping Model { get; }
    public ParallelLayout Layout { get; }

    /// <summary>Every shard of every parameter, each once (replicated parameters once per TP rank).</summary>
    public IReadOnlyList<LocalTensor> Tensors { get; }

    /// <summary>HF tensors present but not read (the ignore list, and lm_head.weight of a tied model).</summary>
    public IReadOnlyList<string> IgnoredHfTensors { get; }

    /// <summary>
    /// The tensors of the rank (pp, tp, ep, etp): ordinary parameters of TP rank <paramref name="tp"/> on stage
    /// <paramref name="pp"/> and routed-expert weights of EP rank <paramref name="ep"/> / expert-TP rank <paramref name="etp"/>.
    /// </summary>
    public IEnumerable<LocalTensor> ForRank(int pp, int tp, int ep, int etp) =>
        Tensors.Where(t => t.PpRank == pp && (t.IsExpert ? t.EpRank == ep && t.ShardRank == etp : t.ShardRank == tp));

    public static ImportPlan Create(ModelMapping model, IReadOnlyList<TensorMeta> hfTensors, ParallelLayout layout, ImportOptions? options = null, string where = "HF checkpoint")
    {
        options ??= new ImportOptions();
        var provider = model.Provider;
        layout.Validate(provider.NumLayers, provider.NumExperts, where);
        var problems = new List<string>();
        var byName = new Dictionary<string, TensorMeta>(StringComparer.Ordinal);
        foreach (var t in hfTensors) byName[t.Name] = t;

        // Every HF tensor a mapping reads must exist with the expected shape.
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var decl in model.HfTensors)
        {
            consumed.Add(decl.Name);
            if (!byName.TryGetValue(decl.Name, out var meta)) missing.Add(decl.Name);
            else if (meta.Shape != decl.Shape) problems.Add($"{where}: {decl.Name} has shape {meta.Shape}, the model needs {decl.Shape}");
        }
        if (missing.Count > 0) problems.Insert(0, $"{where}: {missing.Count} tensor(s) needed by {model.Table.Name} are missing: {string.Join(", ", missing)}");

        var ignored = new List<string>();
        var unconsumed = new List<string>();
        foreach (var t in hfTensors)
        {
            if (consumed.Contains(t.Name)) continue;
            if (options.IgnoredHfTensors.Contains(t.Name) || (provider.ShareEmbeddingsAndOutputWeights && t.Name == "lm_head.weight")) ignored.Add(t.Name);
            else unconsumed.Add(t.Name);
        }
        // A name given to ignore that the checkpoint does not hold is a typo: refuse it rather than ignore nothing.
        var present = hfTensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var unknown = options.IgnoredHfTensors.Where(n => !present.Contains(n)).ToList();
        if (unknown.Count > 0)
            problems.Add($"{where}: --ignore-hf-tensor names {unknown.Count} tensor(s) the checkpoint does not hold: {string.Join(", ", unknown)}");
        if (unconsumed.Count > 0)
            problems.Add($"{where}: {unconsumed.Count} tensor(s) are not used by {model.Table.Name} (pass them as ignored to skip): {string.Join(", ", unconsumed)}");
        // Parameters the layout cannot split (heads or groups not divisible by TP, ...), all at once.
        var splitProblems = new List<string>();
        foreach (var kind in model.Mappings)
        {
            try
            {
                kind.Links(kind.Megatron.IsExpert ? layout.Etp : layout.Tp);
            }
            catch (InvalidInputException e)
            {
                splitProblems.Add(e.Message);
            }
        }
        if (splitProblems.Count > 0)
        {
            const int shown = 10;
            problems.Add($"{where}: parallel layout {layout} cannot split {splitProblems.Count} parameter(s): "
                         + string.Join("; ", splitProblems.Take(shown)) + (splitProblems.Count > shown ? $"; and {splitProblems.Count - shown} more" : ""));
        }
        if (problems.Count > 0) throw new InvalidInputException(string.Join(Environment.NewLine, problems));

        DType? paramDType = options.ParamDType ?? model.ParamDType;
        var naming = model.Naming(layout);
        var tensors = new List<LocalTensor>();
        foreach (var kind in model.Mappings) AddShards(kind, naming.Place(kind.Megatron.Name), isDuplicate: false);

        // Copies Megatron keeps on the last stage when it is not the first: the tied output layer and the MTP block's
        // embedding (docs/mappings.md, Parallel layouts).
        if (layout.Pp > 1)
        {
            var embedding = model.Mappings.FirstOrDefault(m => m.Megatron.Name == model.LanguagePrefix + "embedding.word_embeddings.weight");
            if (embedding is not null)
            {
                var last = new ParamPlacement(layout.LastStage, layout.Vpp - 1, -1, embedding.Megatron.Name);
                if (provider.ShareEmbeddingsAndOutputWeights)
                {
                    var output = new MegatronParam(model.LanguagePrefix + "output_layer.weight", embedding.Megatron.Shape);
                    var copy = Kinds.DirectMapping.Column(output, embedding.HfTensors[0].Name);
                    AddShards(copy, last with { LocalName = output.Name }, isDuplicate: true);
                }
                if (provider.MtpLayers > 0) AddShards(embedding, last, isDuplicate: true);
            }
        }
        return new ImportPlan(model, layout, tensors, ignored);

        void AddShards(MappingKind kind, ParamPlacement at, bool isDuplicate)
        {
            int size = kind.Megatron.IsExpert ? layout.Etp : layout.Tp;
            var dtype = paramDType ?? byName[kind.HfTensors[0].Name].DType;
            for (int r = 0; r < size; r++)
            {
                var recipe = kind.ToMegatron(size, r, dtype, at.LocalName);
                tensors.Add(new LocalTensor(kind.Megatron, at.LocalName, ShardNames.Of(kind.Megatron.Name, r, size),
                    at.PpRank, at.VppChunk, r, at.EpRank, isDuplicate, recipe));
            }
        }
    }
}
