using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>Options of a Megatron to HF plan.</summary>
internal sealed record ExportOptions
{
    /// <summary>
    /// The original HF checkpoint's tensor names, when known: HF tensors are emitted in that order, and a tied model
    /// also emits <c>lm_head.weight</c> (a copy of the embedding) only if the original had it, as Megatron-Bridge's
    /// export does.
    /// </summary>
    public IReadOnlyList<string>? OriginalHfTensors { get; init; }

    /// <summary>Megatron tensors that may be present without being mapped; anything else left over is an error.</summary>
    public IReadOnlyCollection<string> IgnoredMegatronTensors { get; init; } = Array.Empty<string>();

    /// <summary>The dtype every floating-point HF tensor is written in; null keeps each Megatron parameter's own dtype.</summary>
    public DType? OutputDType { get; init; }

    /// <summary>
    /// The HF vocab_size when the Megatron checkpoint's vocabulary is padded beyond it: the HF embedding / output
    /// tensors are cut to this many rows (see <see cref="VocabPadding"/>); null writes every row.
    /// </summary>
    public int? HfVocabRows { get; init; }
}

/// <summary>
/// Megatron to HF: recipes of the HF tensors over the gathered Megatron shards (named by <see cref="ShardNames"/>
/// with global names; TP size = Tp, or Etp for routed-expert weights; MTP layers may be named either way, see
/// <see cref="MegatronNaming.ToCheckpointName"/>). Checks that every shard is present with the
/// expected shape and that nothing is left over.
/// </summary>
internal sealed class ExportPlan
{
    private ExportPlan(IReadOnlyList<TensorRecipe> recipes, IReadOnlyList<string> lossy)
    {
        Recipes = recipes;
        LossyTensors = lossy;
    }

    public IReadOnlyList<TensorRecipe> Recipes { get; }

    /// <summary>HF tensors that do not round-trip bit for bit (GDN output norms: bf16(bf16(w - 1) + 1)).</summary>
    public IReadOnlyList<string> LossyTensors { get; }

    public static ExportPlan Create(ModelMapping model, IReadOnlyList<TensorMeta> megatronShards, ParallelLayout layout, ExportOptions? options = null, string where = "Megatron checkpoint")
    {
        options ??= new ExportOptions();
        var provider = model.Provider;
        layout.Validate(provider.NumLayers, provider.NumExperts, where);
        // Shards may use either MTP inner-layer name (mtp_model_layer in memory, transformer_layer on disk).
        var byName = new Dictionary<string, TensorMeta>(StringComparer.Ordinal);
        foreach (var t in megatronShards) byName[MegatronNaming.FromCheckpointName(t.Name)] = t;

        var problems = new List<string>();
        var missing = new List<string>();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        var dtypes = new Dictionary<string, DType>(StringComparer.Ordinal);
        var kinds = model.Mappings.ToList();
        if (provider.ShareEmbeddingsAndOutputWeights && options.OriginalHfTensors?.Contains("lm_head.weight") == true)
        {
            var embedding = model.Mappings.First(m => m.Megatron.Name == model.LanguagePrefix + "embedding.word_embeddings.weight");
            kinds.Add(Kinds.DirectMapping.Column(embedding.Megatron, "lm_head.weight"));
        }
        foreach (var kind in model.Mappings)
        {
            int size = kind.Megatron.IsExpert ? layout.Etp : layout.Tp;
            var shape = kind.ShardShape(size);
            for (int r = 0; r < size; r++)
            {
                string name = ShardNames.Of(kind.Megatron.Name, r, size);
                expected.Add(name);
                if (!byName.TryGetValue(name, out var meta)) missing.Add(name);
                else if (meta.Shape != shape) problems.Add($"{where}: {name} has shape {meta.Shape}, expected {shape}");
                else if (r == 0) dtypes[kind.Megatron.Name] = meta.DType;
                else if (meta.DType != dtypes.GetValueOrDefault(kind.Megatron.Name, meta.DType))
                    problems.Add($"{where}: {name} is {meta.DType}, TP shard 0 is {dtypes[kind.Megatron.Name]}");
            }
        }
        if (missing.Count > 0) problems.Insert(0, $"{where}: {missing.Count} Megatron tensor(s) needed by {model.Table.Name} are missing: {string.Join(", ", missing)}");
        var extra = megatronShards.Select(t => t.Name)
            .Where(n => !expected.Contains(MegatronNaming.FromCheckpointName(n)) && !options.IgnoredMegatronTensors.Contains(n)).ToList();
        if (extra.Count > 0) problems.Add($"{where}: {extra.Count} tensor(s) are not mapped by {model.Table.Name}: {string.Join(", ", extra)}");
        if (problems.Count > 0) throw new InvalidInputException(string.Join(Environment.NewLine, problems));

        DType OutputDType(MegatronParam p) => options.OutputDType is { } cast && dtypes[p.Name].IsFloating() ? cast : dtypes[p.Name];
        var recipes = RecipeBuilder.ToHf(kinds.Select(k => (k, k.Megatron.IsExpert ? layout.Etp : layout.Tp)), OutputDType,
            (p, rank, size) => byName[ShardNames.Of(p.Name, rank, size)].Name).ToList();
        if (options.OriginalHfTensors is { } original)
        {
            var rank = original.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i, StringComparer.Ordinal);
            recipes = recipes.OrderBy(r => rank.GetValueOrDefault(r.Output.Name, int.MaxValue)).ToList();
        }
        if (options.HfVocabRows is { } rows)
        {
            var vocabTensors = kinds.Where(k => VocabPadding.IsVocabParam(k.Megatron.Name)).SelectMany(k => k.HfTensors).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            recipes = VocabPadding.Trim(recipes, vocabTensors, rows).ToList();
        }
        var lossy = kinds.Where(k => k.ExportOp != ElementOp.None).SelectMany(k => k.HfTensors).Select(t => t.Name).Distinct().ToList();
        return new ExportPlan(recipes, lossy);
    }
}
