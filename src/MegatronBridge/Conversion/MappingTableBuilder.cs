using MegatronBridge.Conversion.Kinds;
using MegatronBridge.IO;

namespace MegatronBridge.Conversion;

/// <summary>
/// Writes mapping tables that read like Megatron-Bridge's <c>mapping_registry</c>: one call per row, <c>{MP}</c> /
/// <c>{HP}</c> standing for the Megatron and HF language-model prefixes, which are parameters of the table rather than
/// copies of it.
/// </summary>
internal sealed class MappingTableBuilder
{
    private readonly List<MappingRow> _rows = new();
    private readonly string _mp;
    private readonly string _hp;

    public MappingTableBuilder(string megatronPrefix, string hfPrefix)
    {
        _mp = megatronPrefix;
        _hp = hfPrefix;
    }

    private string M(string pattern) => pattern.Replace("{MP}", _mp, StringComparison.Ordinal);
    private string H(string pattern) => pattern.Replace("{HP}", _hp, StringComparison.Ordinal);

    public MappingTableBuilder Add(string megatron, string kind, Func<MappingRequest, MappingKind> build, params string[] hf)
    {
        _rows.Add(new MappingRow(new NamePattern(M(megatron)), hf.Select(H).ToArray(), kind, build));
        return this;
    }

    /// <summary>Column-parallel (Auto column): split dim 0.</summary>
    public MappingTableBuilder Column(string megatron, string hf) => Add(megatron, "Column", r => DirectMapping.Column(r.Param, r.Hf[0]), hf);

    /// <summary>Row-parallel (Auto row): split dim 1, 1-D replicated.</summary>
    public MappingTableBuilder Row(string megatron, string hf) => Add(megatron, "Row", r => DirectMapping.Row(r.Param, r.Hf[0]), hf);

    public MappingTableBuilder Replicated(string megatron, string hf) => Add(megatron, "Replicated", r => DirectMapping.Replicated(r.Param, r.Hf[0]), hf);

    /// <summary>
    /// A replicated row that names a parameter by its separate-norm alias (see <see cref="MappingRow.IsAlias"/>), as
    /// Megatron-Bridge's mapping registry adds for layouts without TransformerEngine's fused norms.
    /// </summary>
    public MappingTableBuilder Alias(string megatron, string hf)
    {
        Replicated(megatron, hf);
        _rows[^1] = _rows[^1] with { IsAlias = true };
        return this;
    }

    public MappingTableBuilder ZeroCenteredNorm(string megatron, string hf) => Add(megatron, "ZeroCenteredNorm", r => new ZeroCenteredNormMapping(r.Param, r.Hf[0]), hf);

    /// <summary>Language attention QKV with the provider's heads, groups, kv_channels and output gate.</summary>
    public MappingTableBuilder Qkv(string megatron, string q, string k, string v) =>
        Add(megatron, "QKV", r => QkvMapping.Of(r.Param, LanguageQkv(r), r.Hf[0], r.Hf[1], r.Hf[2]), q, k, v);

    /// <summary>Vision [Q; K; V] with the vision encoder's head count.</summary>
    public MappingTableBuilder ConcatenatedQkv(string megatron, string hf) =>
        Add(megatron, "ConcatenatedQKV", r => new ConcatenatedQkvMapping(r.Param,
            (r.Provider.Vision ?? throw new InvalidInputException($"{r.Param.Name}: a vision parameter, but the provider has no vision config")).NumAttentionHeads,
            r.Hf[0]), hf);

    public MappingTableBuilder GatedMlp(string megatron, string gate, string up) =>
        Add(megatron, "GatedMlp", r => GatedMlpMapping.Of(r.Param, r.Hf[0], r.Hf[1]), gate, up);

    public MappingTableBuilder GdnInProj(string megatron, string qkv, string z, string b, string a) =>
        Add(megatron, "GdnInProj", r => new GdnInProjMapping(r.Param, Gdn(r), r.Hf[0], r.Hf[1], r.Hf[2], r.Hf[3]), qkv, z, b, a);

    public MappingTableBuilder GdnConv1d(string megatron, string hf) => Add(megatron, "GdnConv1d", r => new GdnConv1dMapping(r.Param, Gdn(r), r.Hf[0]), hf);

    /// <summary>Routed-expert fc1 <c>weight*</c> from the given layout (per expert: gate and up patterns; packed: gate_up_proj).</summary>
    public MappingTableBuilder ExpertFc1(string megatron, ExpertLayout layout, params string[] hf) =>
        Add(megatron, layout == ExpertLayout.PerExpert ? "GatedMlp" : "FusedGatedExpert",
            r => ExpertMappings.Fc1(r.Param, layout, r.Captures.LastNumber, r.Provider.NumExperts, r.Hf[0], r.Hf.Count > 1 ? r.Hf[1] : null), hf);

    public MappingTableBuilder ExpertFc2(string megatron, ExpertLayout layout, string hf) =>
        Add(megatron, layout == ExpertLayout.PerExpert ? "Row" : "FusedExpert",
            r => ExpertMappings.Fc2(r.Param, layout, r.Captures.LastNumber, r.Provider.NumExperts, r.Hf[0]), hf);

    public MappingTable Build(string name) => new(name, _rows.ToArray());

    private static QkvGeometry LanguageQkv(MappingRequest r) =>
        new(r.Provider.NumAttentionHeads, r.Provider.NumQueryGroups, r.Provider.KvChannels, r.Provider.AttentionOutputGate);

    private static GdnGeometry Gdn(MappingRequest r) =>
        new(r.Provider.LinearNumKeyHeads, r.Provider.LinearNumValueHeads, r.Provider.LinearKeyHeadDim, r.Provider.LinearValueHeadDim);
}
