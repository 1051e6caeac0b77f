using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Kinds;

/// <summary>
/// GDN output norm (Megatron-Bridge's <c>RMSNorm2ZeroCenteredRMSNormMapping</c>; docs/mappings.md, Zero-centred norm):
/// HF <c>linear_attn.norm.weight</c> multiplies by w, Megatron's zero-centred norm by (1 + w), so import stores w - 1
/// and export adds 1 (computed in float32, rounded to the output dtype). Replicated. The only lossy mapping:
/// bf16(bf16(w - 1) + 1) differs from w where w - 1 is not representable.
/// </summary>
internal sealed class ZeroCenteredNormMapping : MappingKind
{
    private readonly HfRef _source;

    public ZeroCenteredNormMapping(MegatronParam megatron, string hfName)
        : base(megatron, new[] { new HfTensorDecl(hfName, megatron.Shape) })
    {
        _source = HfRef.Whole(hfName, megatron.Shape);
    }

    public override string KindName => "ZeroCenteredNorm";
    public override TpSplit Split => TpSplit.Replicated;
    public override ElementOp ImportOp => ElementOp.SubtractOne;
    public override ElementOp ExportOp => ElementOp.AddOne;

    protected override IReadOnlyList<ViewLink> BuildLinks(int tp, TensorShape shardShape) =>
        Enumerable.Range(0, tp)
            .Select(r => new ViewLink(_source.Name, _source.View, r, StridedView.Contiguous(shardShape), Exported: r == 0))
            .ToList();
}
