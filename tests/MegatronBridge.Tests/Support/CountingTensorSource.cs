using System.Collections.Concurrent;
using MegatronBridge.Tensors;

namespace MegatronBridge.Tests.Support;

/// <summary>A tensor source that counts the bytes read from each tensor (what a forward pass really reads).</summary>
internal sealed class CountingTensorSource(ITensorSource inner) : ITensorSource
{
    private readonly ConcurrentDictionary<string, long> _bytes = new();

    public string Description => inner.Description;
    public IReadOnlyList<TensorMeta> Tensors => inner.Tensors;
    public bool TryGet(string name, out TensorMeta meta) => inner.TryGet(name, out meta);

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        inner.Read(name, byteOffset, destination);
        long length = destination.Length;
        _bytes.AddOrUpdate(name, length, (_, total) => total + length);
    }

    public long BytesRead(string name) => _bytes.GetValueOrDefault(name);

    public long TotalBytesRead => _bytes.Values.Sum();

    public void Reset() => _bytes.Clear();
}
