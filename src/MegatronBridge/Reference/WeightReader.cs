using System.Buffers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Reference;

/// <summary>Reads a tensor as float32 through a bounded buffer (embeddings of real models exceed 2 GiB of bf16).</summary>
public static class WeightReader
{
    private const int ChunkBytes = 1 << 22;

    public static float[] ReadFloats(ITensorSource source, string name) => ReadFloats(source, name, 0, source.Get(name).NumElements);

    /// <summary>Elements [first, first + count) of the row-major tensor (one expert of a packed tensor).</summary>
    public static float[] ReadFloats(ITensorSource source, string name, long first, long count)
    {
        var meta = source.Get(name);
        if (!meta.DType.IsFloating())
            throw new InvalidDataException($"{source.Description}: tensor '{name}' is {meta.DType}, expected a floating dtype");
        if (first < 0 || count < 0 || first + count > meta.NumElements)
            throw new InvalidDataException($"{source.Description}: elements [{first}, {first + count}) are outside tensor '{name}' of {meta.NumElements}");
        if (count > Array.MaxLength)
            throw new InvalidDataException($"{source.Description}: tensor '{name}' has {count} elements, more than one array can hold");
        int size = meta.DType.Size();
        var result = new float[count];
        int perChunk = Math.Max(1, ChunkBytes / size);
        var buffer = ArrayPool<byte>.Shared.Rent(perChunk * size);
        try
        {
            for (long start = 0; start < result.LongLength; start += perChunk)
            {
                int chunk = (int)Math.Min(perChunk, result.LongLength - start);
                var bytes = buffer.AsSpan(0, chunk * size);
                source.Read(name, (first + start) * size, bytes);
                ElementConvert.ToSingle(bytes, meta.DType, result.AsSpan((int)start, chunk));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return result;
    }
}
