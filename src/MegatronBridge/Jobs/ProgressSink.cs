using MegatronBridge.Conversion;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>Counts bytes on their way into a sink.</summary>
internal sealed class ProgressSink(ITensorSink inner, ConversionProgress progress) : ITensorSink
{
    public void Write(long byteOffset, ReadOnlySpan<byte> data)
    {
        inner.Write(byteOffset, data);
        progress.Add(data.Length);
    }
}
