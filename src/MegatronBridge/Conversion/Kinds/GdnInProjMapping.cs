using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Kinds;

/// <summary>
/// GDN <c>in_proj</c> (Megatron-Bridge's <c>GDNLinearMappingSeparate</c>; docs/mappings.md, GDN in_proj): from HF
/// in_proj_qkv [Q; K; V], in_proj_z, in_proj_b, in_proj_a to Megatron's rank-major layout: for each TP rank r, [Q, K of
/// its key heads; V, Z of its value heads; b; a of its value heads]. At TP 1 this is cat(qkv, z, b, a).
/// </summary>
internal sealed class GdnInProjMapping : MappingKind
{
    private readonly GdnGeometry _g;
    private readonly HfRef _qkv, _z, _b, _a;

    public GdnInProjMapping(MegatronParam megatron, GdnGeometry geometry, string qkv, string z, string b, string a)
        : base(megatron, Decls(megatron, geometry, qkv, z, b, a))
    {
        _g = geometry;
        if (geometry.Problem(1) is { } problem) throw Bad(problem);
        if (megatron.Shape.Rank != 2 || megatron.Shape[0] != geometry.InProjRows)
            throw Bad($"has shape {megatron.Shape}, the geometry {geometry} needs [{geometry.InProjRows}, H]");
        _qkv = HfRef.Whole(qkv, HfTensors[0].Shape);
        _z = HfRef.Whole(z, HfTensors[1].Shape);
        _b = HfRef.Whole(b, HfTensors[2].Shape);
        _a = HfRef.Whole(a, HfTensors[3].Shape);
    }

    private static HfTensorDecl[] Decls(MegatronParam p, GdnGeometry g, string qkv, string z, string b, string a)
    {
        long h = p.Shape.Rank == 2 ? p.Shape[1] : 0;
        return new[]
        {
            new HfTensorDecl(qkv, new TensorShape(2 * g.QkDim + g.VDim, h)),
            new HfTensorDecl(z, new TensorShape(g.VDim, h)),
            new HfTensorDecl(b, new TensorShape(g.ValueHeads, h)),
            new HfTensorDecl(a, new TensorShape(g.ValueHeads, h)),
        };
    }

    public override string KindName => "GdnInProj";
    public override TpSplit Split => TpSplit.Dim0;

    protected override IReadOnlyList<ViewLink> BuildLinks(int tp, TensorShape shardShape)
    {
        if (_g.Problem(tp) is { } problem) throw Bad(problem);
        long qk = _g.QkDim / tp, v = _g.VDim / tp, nv = _g.ValueHeads / tp;
        var perRank = new List<IReadOnlyList<RowSegment>>();
        for (int r = 0; r < tp; r++)
        {
            perRank.Add(new[]
            {
                new RowSegment(_qkv, r * qk, qk),
                new RowSegment(_qkv, _g.QkDim + r * qk, qk),
                new RowSegment(_qkv, 2 * _g.QkDim + r * v, v),
                new RowSegment(_z, r * v, v),
                new RowSegment(_b, r * nv, nv),
                new RowSegment(_a, r * nv, nv),
            });
        }
        return RowLayout.ShardsFromRows(perRank, shardShape, Megatron.Name);
    }
}
