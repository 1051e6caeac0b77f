using System.Buffers;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Reference;

/// <summary>
/// Reads weights as float32 through a bounded buffer of stored bytes (embeddings of real models exceed 2 GiB of
/// bf16), and counts the bytes it read (what a forward pass costs in reading).
/// </summary>
internal static class WeightReader
{
    private const int ChunkBytes = 1 << 22;
    private static long _bytesRead;

    /// <summary>Stored bytes read for the reference forward by this process so far (all threads).</summary>
    public static long BytesRead => Interlocked.Read(ref _bytesRead);

    public static float[] ReadFloats(ITensorSource source, string name) => ReadFloats(source, name, 0, source.Get(name).NumElements);

    /// <summary>Elements [first, first + count) of the row-major tensor (one expert of a packed tensor).</summary>
    public static float[] ReadFloats(ITensorSource source, string name, long first, long count)
    {
        CheckRange(source, name, first, count);
        if (count > Array.MaxLength)
            throw new InvalidInputException($"{source.Description}: tensor '{name}' has {count} elements, more than one array can hold");
        var result = new float[count];
        ReadInto(source, name, first, result);
        return result;
    }

    /// <summary>Checks that the tensor exists, is floating point and holds elements [first, first + count).</summary>
    public static TensorMeta CheckRange(ITensorSource source, string name, long first, long count)
    {
        var meta = source.Get(name);
        if (!meta.DType.IsFloating())
            throw new InvalidInputException($"{source.Description}: tensor '{name}' is {meta.DType}, expected a floating dtype");
        if (meta.DType is DType.F8E4M3 or DType.F8E5M2)
            throw new InvalidInputException($"{source.Description}: tensor '{name}' is {meta.DType} without block scales; the reference forward reads FP8 weights only through their scale_inv tensors");
        if (first < 0 || count < 0 || first + count > meta.NumElements)
            throw new InvalidInputException($"{source.Description}: elements [{first}, {first + count}) are outside tensor '{name}' of {meta.NumElements}");
        return meta;
    }

    /// <summary>Elements [first, first + destination.Length) converted to float32, read a bounded chunk at a time.</summary>
    public static void ReadInto(ITensorSource source, string name, long first, Span<float> destination)
    {
        var meta = CheckRange(source, name, first, destination.Length);
        int size = meta.DType.Size();
        int perChunk = Math.Max(1, ChunkBytes / size);
        var buffer = ArrayPool<byte>.Shared.Rent(perChunk * size);
        try
        {
            for (int start = 0; start < destination.Length; start += perChunk)
            {
                int chunk = Math.Min(perChunk, destination.Length - start);
                var bytes = buffer.AsSpan(0, chunk * size);
                source.Read(name, (first + start) * size, bytes);
                ElementConvert.ToSingle(bytes, meta.DType, destination.Slice(start, chunk));
                Interlocked.Add(ref _bytesRead, bytes.Length);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
