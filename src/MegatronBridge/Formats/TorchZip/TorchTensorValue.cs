using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchZip;

/// <summary>
/// A contiguous CPU tensor to torch.save: dtype, shape and a producer that writes its row-major bytes into a sink
/// (called once, while the archive is written, so the data never has to be held in memory).
/// </summary>
internal sealed class TorchTensorValue
{
    public TorchTensorValue(DType dtype, long[] shape, Action<ITensorSink> writeData)
    {
        DType = dtype;
        Shape = new TensorShape(shape);
        WriteData = writeData;
    }

    public DType DType { get; }
    public TensorShape Shape { get; }
    public Action<ITensorSink> WriteData { get; }
    public long ByteLength => checked(Shape.NumElements * DType.Size());

    public static TorchTensorValue FromBytes(DType dtype, long[] shape, byte[] data)
    {
        var value = new TorchTensorValue(dtype, shape, sink => sink.Write(0, data));
        if (value.ByteLength != data.LongLength)
            throw new ArgumentException($"{data.Length} bytes given for a {dtype.TorchName()} tensor of shape {value.Shape} ({value.ByteLength} bytes)");
        return value;
    }

    /// <summary>A tensor whose bytes are read from a tensor source (e.g. one safetensors tensor).</summary>
    public static TorchTensorValue FromSource(ITensorSource source, string name, int bufferBytes = 16 << 20)
    {
        var meta = source.Get(name);
        return new TorchTensorValue(meta.DType, meta.Shape.ToArray(), sink =>
        {
            var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(bufferBytes, Math.Max(1, meta.ByteLength)));
            try
            {
                for (long at = 0; at < meta.ByteLength;)
                {
                    var n = (int)Math.Min(buffer.Length, meta.ByteLength - at);
                    source.Read(name, at, buffer.AsSpan(0, n));
                    sink.Write(at, buffer.AsSpan(0, n));
                    at += n;
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        });
    }
}
