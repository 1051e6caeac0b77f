using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Kinds;

/// <summary>
/// Vision <c>attn.qkv</c> (Megatron-Bridge's <c>ConcatenatedQKVMapping</c>; docs/mappings.md, Concatenated QKV): HF [Q;
/// K; V] (heads consecutive in each) becomes per head [Q_h; K_h; V_h] (QKV fusion with as many groups as heads, no
/// gate), then a contiguous TP split. Weights and biases.
/// </summary>
internal sealed class ConcatenatedQkvMapping : MappingKind
{
    private readonly QkvGeometry _g;
    private readonly HfRef _qkv;

    public ConcatenatedQkvMapping(MegatronParam megatron, int heads, string hfName)
        : base(megatron, new[] { new HfTensorDecl(hfName, megatron.Shape) })
    {
        RequireDivisible(megatron.Shape[0], 3, "qkv rows");
        long hidden = megatron.Shape[0] / 3;
        RequireDivisible(hidden, heads, "vision hidden size / heads");
        _g = new QkvGeometry(heads, heads, checked((int)(hidden / heads)), OutputGate: false);
        _qkv = HfRef.Whole(hfName, megatron.Shape);
    }

    public override string KindName => "ConcatenatedQKV";
    public override TpSplit Split => TpSplit.Dim0;

    protected override IReadOnlyList<ViewLink> BuildLinks(int tp, TensorShape shardShape)
    {
        if (_g.Heads % tp != 0) throw Bad($"{_g.Heads} vision heads cannot be split over tensor-parallel size {tp}");
        long h = _g.KvRows;
        // q, k and v as row ranges of the one HF tensor.
        var q = _qkv with { View = _qkv.RowRange(0, h) };
        var k = _qkv with { View = _qkv.RowRange(h, h) };
        var v = _qkv with { View = _qkv.RowRange(2 * h, h) };
        var global = QkvMapping.GroupMajorRows(_g, q, k, v);
        return RowLayout.ShardsFromRows(RowLayout.SplitContiguous(global, tp, shardShape[0]), shardShape, Megatron.Name);
    }
}
