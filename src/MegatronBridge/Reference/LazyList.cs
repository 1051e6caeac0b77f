using System.Collections;

namespace MegatronBridge.Reference;

/// <summary>A read-only list whose items are built on every access and not kept (layer-by-layer streaming).</summary>
internal sealed class LazyList<T>(int count, Func<int, T> load) : IReadOnlyList<T>
{
    public int Count => count;

    public T this[int index] => (uint)index < (uint)count ? load(index) : throw new ArgumentOutOfRangeException(nameof(index), $"index {index} is outside 0..{count - 1}");

    public IEnumerator<T> GetEnumerator()
    {
        for (int i = 0; i < count; i++) yield return load(i);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
