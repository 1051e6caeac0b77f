using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Kinds;

/// <summary>Attention geometry for QKV fusion: heads, query groups (KV heads), head dim, output gate.</summary>
internal sealed record QkvGeometry(int Heads, int Groups, int HeadDim, bool OutputGate)
{
    public int HeadsPerGroup => Heads / Groups;
    public long QRows => (long)Heads * HeadDim * (OutputGate ? 2 : 1);
    public long KvRows => (long)Groups * HeadDim;
    public long FusedRows => ((OutputGate ? 2L : 1L) * Heads + 2L * Groups) * HeadDim;
}

/// <summary>
/// Language attention <c>linear_qkv</c> (Megatron-Bridge's <c>QKVMapping</c>; docs/mappings.md, QKV): group-major
/// fusion of q/k/v. For each group g the d-row blocks Q heads of g, (gate heads of g when gated; HF q_proj stores head
/// h as [query_h; gate_h]), K_g, V_g. TP cuts the fused tensor in contiguous chunks, so each rank holds whole groups.
/// Works for weights and 1-D biases.
/// </summary>
internal sealed class QkvMapping : MappingKind
{
    private readonly QkvGeometry _g;
    private readonly HfRef _q, _k, _v;

    public QkvMapping(MegatronParam megatron, QkvGeometry geometry, HfRef q, HfRef k, HfRef v, IReadOnlyList<HfTensorDecl>? decls = null)
        : base(megatron, decls ?? new[] { Decl(q), Decl(k), Decl(v) })
    {
        _g = geometry;
        _q = q;
        _k = k;
        _v = v;
        if (geometry.Heads <= 0 || geometry.Groups <= 0 || geometry.HeadDim <= 0 || geometry.Heads % geometry.Groups != 0)
            throw Bad($"bad geometry {geometry} (heads must be a positive multiple of groups)");
        var inner = megatron.Shape.Skip(1).ToArray();
        if (megatron.Shape[0] != geometry.FusedRows)
            throw Bad($"has {megatron.Shape[0]} rows, the geometry {geometry} needs {geometry.FusedRows}");
        RequireShape(q.View, "q " + q.Name, new[] { geometry.QRows }.Concat(inner).ToArray());
        RequireShape(k.View, "k " + k.Name, new[] { geometry.KvRows }.Concat(inner).ToArray());
        RequireShape(v.View, "v " + v.Name, new[] { geometry.KvRows }.Concat(inner).ToArray());
    }

    public static QkvMapping Of(MegatronParam p, QkvGeometry g, string q, string k, string v)
    {
        TensorShape Rows(long n) => p.Shape.WithDim(0, n);
        return new QkvMapping(p, g, HfRef.Whole(q, Rows(g.QRows)), HfRef.Whole(k, Rows(g.KvRows)), HfRef.Whole(v, Rows(g.KvRows)));
    }

    private static HfTensorDecl Decl(HfRef r) => new(r.Name, new TensorShape(r.View.Shape));

    public override string KindName => "QKV";
    public override TpSplit Split => TpSplit.Dim0;

    /// <summary>The fused rows in Megatron order, as d-row blocks of the HF tensors.</summary>
    internal static List<RowSegment> GroupMajorRows(QkvGeometry g, HfRef q, HfRef k, HfRef v)
    {
        long d = g.HeadDim;
        long qStride = g.OutputGate ? 2 * d : d;
        var rows = new List<RowSegment>();
        for (int grp = 0; grp < g.Groups; grp++)
        {
            for (int h = grp * g.HeadsPerGroup; h < (grp + 1) * g.HeadsPerGroup; h++) rows.Add(new RowSegment(q, h * qStride, d));
            if (g.OutputGate)
            {
                for (int h = grp * g.HeadsPerGroup; h < (grp + 1) * g.HeadsPerGroup; h++) rows.Add(new RowSegment(q, h * qStride + d, d));
            }
            rows.Add(new RowSegment(k, grp * d, d));
            rows.Add(new RowSegment(v, grp * d, d));
        }
        return rows;
    }

    protected override IReadOnlyList<ViewLink> BuildLinks(int tp, TensorShape shardShape)
    {
        if (_g.Groups % tp != 0) throw Bad($"{_g.Groups} query groups cannot be split over tensor-parallel size {tp}");
        var global = GroupMajorRows(_g, _q, _k, _v);
        return RowLayout.ShardsFromRows(RowLayout.SplitContiguous(global, tp, shardShape[0]), shardShape, Megatron.Name);
    }
}
