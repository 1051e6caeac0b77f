using MegatronBridge.IO;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// A model's complete mapping: every Megatron parameter the provider builds (the bridge's module tree), in module
/// order, with its resolved mapping kind. Building it fails, listing every parameter no table row covers.
/// </summary>
internal sealed class ModelMapping
{
    private ModelMapping(GptModelProvider provider, MappingTable table, string languagePrefix, IReadOnlyList<MappingKind> mappings)
    {
        Provider = provider;
        Table = table;
        LanguagePrefix = languagePrefix;
        Mappings = mappings;
    }

    public GptModelProvider Provider { get; }
    public MappingTable Table { get; }

    /// <summary>"language_model." for VL models, "" for LM-only ones.</summary>
    public string LanguagePrefix { get; }

    public IReadOnlyList<MappingKind> Mappings { get; }

    public IEnumerable<MegatronParam> Parameters => Mappings.Select(m => m.Megatron);

    /// <summary>The dtype the HF config declares for the checkpoint, which a conversion casts every parameter to by default; null when not a known dtype name.</summary>
    public DType? ParamDType => DTypes.TryFromTorchName(Provider.CheckpointDtype, out var dtype) ? dtype : null;

    /// <summary>Every Megatron parameter as name, dtype (<paramref name="dtype"/>, else <see cref="ParamDType"/>, else bf16) and global shape.</summary>
    public IEnumerable<TensorMeta> ParameterMetas(DType? dtype = null)
    {
        var d = dtype ?? ParamDType ?? DType.BF16;
        return Parameters.Select(p => new TensorMeta(p.Name, d, p.Shape));
    }

    /// <summary>The HF tensors the mappings read, without duplicates, in first-use order.</summary>
    public IReadOnlyList<HfTensorDecl> HfTensors =>
        Mappings.SelectMany(m => m.HfTensors).DistinctBy(t => t.Name, StringComparer.Ordinal).ToList();

    /// <summary>
    /// Resolves every parameter of the module tree <paramref name="tree"/> builds for <paramref name="provider"/> against
    /// <paramref name="table"/>.
    /// </summary>
    public static ModelMapping Create(GptModelProvider provider, MappingTable table, string languagePrefix, ModelTreeFunction tree)
    {
        var parameters = tree(provider, languagePrefix);
        var mappings = new List<MappingKind>(parameters.Count);
        var unmapped = new List<string>();
        var problems = new List<string>();
        foreach (var param in parameters)
        {
            try
            {
                var kind = table.Resolve(param, provider);
                if (kind is null) unmapped.Add(param.Name);
                else mappings.Add(kind);
            }
            catch (InvalidInputException e)
            {
                problems.Add(e.Message);
            }
        }
        if (unmapped.Count > 0)
            problems.Insert(0, $"{unmapped.Count} Megatron parameter(s) have no mapping in {table.Name}: {string.Join(", ", unmapped)}");
        if (problems.Count > 0) throw new InvalidInputException(string.Join(Environment.NewLine, problems));
        return new ModelMapping(provider, table, languagePrefix, mappings);
    }

    /// <summary>Where each parameter lives under <paramref name="layout"/> (the stages the model's blocks pinned included).</summary>
    public MegatronNaming Naming(ParallelLayout layout) =>
        new(LanguagePrefix, Provider.NumLayers, Provider.NumExperts, layout, _pinnedStages ??= PinnedStages());

    private IReadOnlyDictionary<string, PipelineStage>? _pinnedStages;

    private Dictionary<string, PipelineStage> PinnedStages() =>
        Parameters.Where(p => p.Stage is not null).ToDictionary(p => p.Name, p => p.Stage!.Value, StringComparer.Ordinal);
}
