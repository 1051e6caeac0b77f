using MegatronBridge.IO;

namespace MegatronBridge.Tensors;

/// <summary>
/// A collection of named tensors whose row-major bytes can be read in ranges, without loading them whole
/// (a safetensors checkpoint, the chunks of a DCP checkpoint, an in-memory set in tests).
/// </summary>
internal interface ITensorSource
{
    /// <summary>Where the tensors come from, for error messages (a folder or file path).</summary>
    string Description { get; }

    /// <summary>All tensors in a stable order (file order where the format has one).</summary>
    IReadOnlyList<TensorMeta> Tensors { get; }

    bool TryGet(string name, out TensorMeta meta);

    /// <summary>Reads <paramref name="destination"/>.Length bytes of the tensor's row-major data from byte <paramref name="byteOffset"/>.</summary>
    void Read(string name, long byteOffset, Span<byte> destination);
}

internal static class TensorSourceExtensions
{
    public static TensorMeta Get(this ITensorSource source, string name) =>
        source.TryGet(name, out var meta)
            ? meta
            : throw new InvalidInputException($"{source.Description}: no tensor named '{name}'");

    public static bool Contains(this ITensorSource source, string name) => source.TryGet(name, out _);

    /// <summary>Reads a whole tensor into memory (only for small tensors, tests and the reference forward).</summary>
    public static byte[] ReadAll(this ITensorSource source, string name)
    {
        var meta = source.Get(name);
        var bytes = GC.AllocateUninitializedArray<byte>(checked((int)meta.ByteLength));
        source.Read(name, 0, bytes);
        return bytes;
    }
}
