using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;

namespace MegatronBridge.Benchmarks;

/// <summary>Writes a synthetic HF checkpoint (config.json + model.safetensors) with pseudo-random bf16 bytes.</summary>
public static class BenchSynthesizer
{
    private const int FillBufferBytes = 8 << 20;

    /// <summary>Writes the checkpoint into <paramref name="folder"/> (created); returns the tensor data bytes written.</summary>
    public static long Write(JsonObject config, string folder, ulong seed = 0x9E3779B97F4A7C15UL)
    {
        var tensors = BenchTensorList.FromConfig(config);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        byte[] buffer = ArrayPool<byte>.Shared.Rent(FillBufferBytes);
        long total = 0;
        ulong state = seed == 0 ? 1 : seed;
        try
        {
            using var writer = SafetensorsWriter.Create(Path.Combine(folder, "model.safetensors"), tensors);
            foreach (var tensor in tensors)
            {
                long length = tensor.ByteLength;
                for (long offset = 0; offset < length; offset += FillBufferBytes)
                {
                    int n = (int)Math.Min(FillBufferBytes, length - offset);
                    Fill(buffer.AsSpan(0, n), ref state);
                    writer.Write(tensor.Name, offset, buffer.AsSpan(0, n));
                }
                total += length;
            }
            writer.Commit();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return total;
    }

    /// <summary>xorshift64*: cheap, never constant, so files do not compress or dedupe to nothing.</summary>
    internal static void Fill(Span<byte> span, ref ulong state)
    {
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(span);
        ulong x = state;
        for (int i = 0; i < words.Length; i++)
        {
            x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
            words[i] = x * 0x2545F4914F6CDD1DUL;
        }
        for (int i = words.Length * 8; i < span.Length; i++)
        {
            x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
            span[i] = (byte)(x * 0x2545F4914F6CDD1DUL >> 56);
        }
        state = x;
    }
}
