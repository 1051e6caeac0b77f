using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// Megatron parameters (global names, or gathered <c>#tp{r}</c> shards) with the vocabulary-sized ones (embedding,
/// output layer) shown whole and cut to the HF vocab_size: the padding rows Megatron-LM adds are dropped, as
/// Megatron-Bridge's export does, so the reference forward sees the HF model's shapes. Other tensors pass through.
/// </summary>
internal sealed class VocabRowsView : ITensorSource
{
    private readonly ITensorSource _inner;
    // Global name -> (its shards in rank order, rows per shard, the view's meta).
    private readonly Dictionary<string, (string[] Shards, long ShardRows, TensorMeta Meta)> _vocab = new(StringComparer.Ordinal);
    private readonly List<TensorMeta> _tensors = new();

    public VocabRowsView(ITensorSource inner, int vocab)
    {
        _inner = inner;
        var hidden = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in inner.Tensors)
        {
            var (global, _) = ShardNames.Parse(t.Name);
            if (!VocabPadding.IsVocabParam(global) || t.Shape.Rank != 2 || _vocab.ContainsKey(global)) continue;
            int size = 0;
            while (inner.Contains(ShardNames.Of(global, size, 2))) size++;
            var shards = size == 0 ? new[] { global } : Enumerable.Range(0, size).Select(r => ShardNames.Of(global, r, size)).ToArray();
            var first = inner.Get(shards[0]);
            long rows = first.Shape[0] * shards.Length;
            if (rows < vocab) throw new InvalidInputException($"{inner.Description}: '{global}' has {rows} rows, fewer than the HF vocab_size {vocab}");
            _vocab[global] = (shards, first.Shape[0], new TensorMeta(global, first.DType, first.Shape.WithDim(0, vocab)));
            hidden.UnionWith(shards);
        }
        foreach (var t in inner.Tensors)
        {
            if (hidden.Contains(t.Name))
            {
                var (global, _) = ShardNames.Parse(t.Name);
                if (t.Name == _vocab[global].Shards[0]) _tensors.Add(_vocab[global].Meta);
            }
            else _tensors.Add(t);
        }
    }

    public string Description => _inner.Description;
    public IReadOnlyList<TensorMeta> Tensors => _tensors;

    public bool TryGet(string name, out TensorMeta meta)
    {
        if (_vocab.TryGetValue(name, out var v))
        {
            meta = v.Meta;
            return true;
        }
        if (_vocab.Values.Any(x => x.Shards.Length > 1 && x.Shards.Contains(name)))
        {
            meta = null!;
            return false;
        }
        return _inner.TryGet(name, out meta);
    }

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        if (!_vocab.TryGetValue(name, out var v))
        {
            _inner.Read(name, byteOffset, destination);
            return;
        }
        long rowBytes = v.Meta.ByteLength / v.Meta.Shape[0];
        long shardBytes = v.ShardRows * rowBytes;
        while (destination.Length > 0)
        {
            int shard = (int)(byteOffset / shardBytes);
            long within = byteOffset % shardBytes;
            int take = (int)Math.Min(destination.Length, shardBytes - within);
            _inner.Read(v.Shards[shard], within, destination[..take]);
            destination = destination[take..];
            byteOffset += take;
        }
    }
}
