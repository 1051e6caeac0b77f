using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;

namespace MegatronBridge.Benchmarks;

/// <summary>
/// Writes a synthetic HF checkpoint (config.json + model.safetensors) of pseudo-random bf16 values: random sign and
/// mantissa, magnitude in [2^-7, 2^-5) like real weights, so that the reference forward over it computes finite
/// numbers (random exponents would give NaN and Inf everywhere).
/// </summary>
internal static class BenchSynthesizer
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

    // Of each bf16 value keep the sign, the exponent's lowest bit and the mantissa, and set the exponent to 120 or 121.
    private const ulong KeptBits = 0x80FF_80FF_80FF_80FFUL;
    private const ulong ExponentBits = 0x3C00_3C00_3C00_3C00UL;

    /// <summary>xorshift64*: cheap, never constant, so files do not compress or dedupe to nothing; four bf16 values a word.</summary>
    internal static void Fill(Span<byte> span, ref ulong state)
    {
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(span);
        ulong x = state;
        for (int i = 0; i < words.Length; i++)
        {
            x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
            words[i] = (x * 0x2545F4914F6CDD1DUL & KeptBits) | ExponentBits;
        }
        int tail = span.Length - words.Length * 8;
        if (tail > 0)
        {
            x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
            Span<byte> last = stackalloc byte[8];
            BitConverter.TryWriteBytes(last, (x * 0x2545F4914F6CDD1DUL & KeptBits) | ExponentBits);
            last[..tail].CopyTo(span[(words.Length * 8)..]);
        }
        state = x;
    }
}
