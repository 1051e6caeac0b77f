using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Kinds;

/// <summary>
/// GDN <c>conv1d.weight</c> [CD, 1, Kc] (Megatron-Bridge's <c>GDNConv1dMapping</c>; docs/mappings.md, GDN conv1d):
/// channels [q; k; v]; TP rank r holds [q_r; k_r; v_r], each component split separately. Identity at TP 1.
/// </summary>
internal sealed class GdnConv1dMapping : MappingKind
{
    private readonly GdnGeometry _g;
    private readonly HfRef _conv;

    public GdnConv1dMapping(MegatronParam megatron, GdnGeometry geometry, string hfName)
        : base(megatron, new[] { new HfTensorDecl(hfName, megatron.Shape) })
    {
        _g = geometry;
        if (geometry.Problem(1) is { } problem) throw Bad(problem);
        if (megatron.Shape.Rank < 1 || megatron.Shape[0] != geometry.ConvChannels)
            throw Bad($"has shape {megatron.Shape}, the geometry {geometry} needs {geometry.ConvChannels} channels");
        _conv = HfRef.Whole(hfName, megatron.Shape);
    }

    public override string KindName => "GdnConv1d";
    public override TpSplit Split => TpSplit.Dim0;

    protected override IReadOnlyList<ViewLink> BuildLinks(int tp, TensorShape shardShape)
    {
        if (_g.Problem(tp) is { } problem) throw Bad(problem);
        long qk = _g.QkDim / tp, v = _g.VDim / tp;
        var perRank = Enumerable.Range(0, tp).Select(r => (IReadOnlyList<RowSegment>)new[]
        {
            new RowSegment(_conv, r * qk, qk),
            new RowSegment(_conv, _g.QkDim + r * qk, qk),
            new RowSegment(_conv, 2 * _g.QkDim + r * v, v),
        }).ToList();
        return RowLayout.ShardsFromRows(perRank, shardShape, Megatron.Name);
    }
}
