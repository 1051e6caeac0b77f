using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Kinds;

/// <summary>
/// SwiGLU fc1 (Megatron-Bridge's <c>GatedMLPMapping</c>; docs/mappings.md, Gated MLP fc1): Megatron
/// <c>linear_fc1.weight</c> [2N, Hin] = [gate; up]. TP splits gate and up separately: rank r holds [gate rows of r; up
/// rows of r]. Used for dense, shared-expert, MTP and routed-expert fc1 (for experts, gate and up may be views of a
/// packed tensor).
/// </summary>
internal sealed class GatedMlpMapping : MappingKind
{
    private readonly HfRef _gate;
    private readonly HfRef _up;

    private readonly string _kindName;

    /// <param name="kindName">How messages name it ("FusedGatedExpert" when gate and up are views of a packed tensor).</param>
    public GatedMlpMapping(MegatronParam megatron, HfRef gate, HfRef up, IReadOnlyList<HfTensorDecl>? decls = null, string kindName = "GatedMlp")
        : base(megatron, decls ?? new[] { Decl(gate), Decl(up) })
    {
        _kindName = kindName;
        _gate = gate;
        _up = up;
        var shape = megatron.Shape.ToArray();
        RequireDivisible(shape[0], 2, "fc1 rows");
        shape[0] /= 2;
        RequireShape(gate.View, "gate " + gate.Name, shape);
        RequireShape(up.View, "up " + up.Name, shape);
    }

    public static GatedMlpMapping Of(MegatronParam p, string gate, string up)
    {
        var half = p.Shape.WithDim(0, p.Shape[0] / 2);
        return new GatedMlpMapping(p, HfRef.Whole(gate, half), HfRef.Whole(up, half));
    }

    private static HfTensorDecl Decl(HfRef r) => new(r.Name, new TensorShape(r.View.Shape));

    public override string KindName => _kindName;
    public override TpSplit Split => TpSplit.Dim0;

    protected override IReadOnlyList<ViewLink> BuildLinks(int tp, TensorShape shardShape)
    {
        long n = _gate.Rows;
        RequireDivisible(n, tp, "gate/up rows");
        long per = n / tp;
        var perRank = Enumerable.Range(0, tp)
            .Select(r => (IReadOnlyList<RowSegment>)new[] { new RowSegment(_gate, r * per, per), new RowSegment(_up, r * per, per) })
            .ToList();
        return RowLayout.ShardsFromRows(perRank, shardShape, Megatron.Name);
    }
}
