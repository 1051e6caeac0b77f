using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Kinds;

/// <summary>
/// A parameter equal to one HF tensor (or view), split by TP as column-parallel (dim 0), row-parallel (dim 1; 1-D
/// tensors such as row-parallel biases are replicated) or replicated (Megatron-Bridge's column / row / replicated
/// mappings; docs/mappings.md, Direct).
/// </summary>
internal sealed class DirectMapping : MappingKind
{
    private readonly HfRef _source;
    private readonly TpSplit _split;

    private readonly string? _kindName;

    /// <param name="kindName">How messages name it; default Column / Row / Replicated.</param>
    public DirectMapping(MegatronParam megatron, HfRef source, TpSplit split, HfTensorDecl? decl = null, string? kindName = null)
        : base(megatron, new[] { decl ?? new HfTensorDecl(source.Name, new TensorShape(source.View.Shape)) })
    {
        _kindName = kindName;
        _source = source;
        _split = split == TpSplit.Dim1 && megatron.Shape.Rank < 2 ? TpSplit.Replicated : split;
        RequireShape(source.View, source.Name, megatron.Shape.ToArray());
    }

    public static DirectMapping Column(MegatronParam p, string hf) => new(p, HfRef.Whole(hf, p.Shape), TpSplit.Dim0);
    public static DirectMapping Row(MegatronParam p, string hf) => new(p, HfRef.Whole(hf, p.Shape), TpSplit.Dim1);
    public static DirectMapping Replicated(MegatronParam p, string hf) => new(p, HfRef.Whole(hf, p.Shape), TpSplit.Replicated);

    public override string KindName => _kindName ?? _split switch
    {
        TpSplit.Dim0 => "Column",
        TpSplit.Dim1 => "Row",
        _ => "Replicated",
    };

    public override TpSplit Split => _split;

    protected override IReadOnlyList<ViewLink> BuildLinks(int tp, TensorShape shardShape)
    {
        var shard = StridedView.Contiguous(shardShape);
        var links = new List<ViewLink>(tp);
        for (int r = 0; r < tp; r++)
        {
            var hf = _split switch
            {
                TpSplit.Dim0 => _source.View.Narrow(0, r * shardShape[0], shardShape[0]),
                TpSplit.Dim1 => _source.View.Narrow(1, r * shardShape[1], shardShape[1]),
                _ => _source.View,
            };
            links.Add(new ViewLink(_source.Name, hf, r, shard, Exported: _split != TpSplit.Replicated || r == 0));
        }
        return links;
    }
}
