namespace MegatronBridge.Tensors;

/// <summary>Where the bytes of one output tensor go (a region of a file being written, or memory).</summary>
internal interface ITensorSink
{
    /// <summary>Writes bytes at <paramref name="byteOffset"/> of the tensor's row-major data.</summary>
    void Write(long byteOffset, ReadOnlySpan<byte> data);
}

internal sealed class MemoryTensorSink(long length) : ITensorSink
{
    public byte[] Buffer { get; } = new byte[checked((int)length)];
    public void Write(long byteOffset, ReadOnlySpan<byte> data) => data.CopyTo(Buffer.AsSpan(checked((int)byteOffset)));
}
