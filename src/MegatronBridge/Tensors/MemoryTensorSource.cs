namespace MegatronBridge.Tensors;

/// <summary>Tensors held in memory: for tests, tiny models and reassembled results.</summary>
internal sealed class MemoryTensorSource : ITensorSource
{
    private readonly List<TensorMeta> _order = new();
    private readonly Dictionary<string, (TensorMeta Meta, byte[] Data)> _tensors = new(StringComparer.Ordinal);

    public MemoryTensorSource(string description = "memory") => Description = description;

    public string Description { get; }
    public IReadOnlyList<TensorMeta> Tensors => _order;

    public MemoryTensorSource Add(TensorMeta meta, byte[] data)
    {
        if (data.LongLength != meta.ByteLength)
            throw new ArgumentException($"{meta.Name}: {data.Length} bytes given, {meta.ByteLength} expected");
        if (_tensors.ContainsKey(meta.Name)) throw new ArgumentException($"duplicate tensor '{meta.Name}'");
        _tensors[meta.Name] = (meta, data);
        _order.Add(meta);
        return this;
    }

    public MemoryTensorSource Add(string name, DType dtype, TensorShape shape, byte[] data) =>
        Add(new TensorMeta(name, dtype, shape), data);

    public bool TryGet(string name, out TensorMeta meta)
    {
        if (_tensors.TryGetValue(name, out var t))
        {
            meta = t.Meta;
            return true;
        }
        meta = null!;
        return false;
    }

    public byte[] Data(string name) => _tensors[name].Data;

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        var (meta, data) = _tensors.TryGetValue(name, out var t)
            ? t
            : throw new KeyNotFoundException($"{Description}: no tensor named '{name}'");
        if (byteOffset < 0 || byteOffset + destination.Length > meta.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{name}: read past the end of the tensor");
        data.AsSpan(checked((int)byteOffset), destination.Length).CopyTo(destination);
    }
}
