using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>Asserts that an exported HF folder holds the original's tensors, byte for byte (GDN output norms: bf16(bf16(w-1)+1)).</summary>
internal static class HfRoundTrip
{
    /// <param name="rename">Original name -> expected exported name (null drops the tensor); identity when omitted.</param>
    public static void AssertSameTensors(string originalFolder, string exportedFolder, string label, Func<string, string?>? rename = null)
    {
        rename ??= n => n;
        using var original = SafetensorsCheckpoint.Open(originalFolder);
        using var exported = SafetensorsCheckpoint.Open(exportedFolder);
        var expected = original.Tensors.Select(t => (Original: t, Name: rename(t.Name))).Where(x => x.Name != null).ToList();
        Assert.Equal(expected.Select(x => (x.Original with { Name = x.Name! }).ToString()).Order(), exported.Tensors.Select(t => t.ToString()).Order());
        foreach (var (t, name) in expected)
        {
            var a = original.ReadAll(t.Name);
            var b = exported.ReadAll(name!);
            if (t.Name.EndsWith("linear_attn.norm.weight", StringComparison.Ordinal))
                Assert.Equal(ExpectedNormRoundTrip(a), b);
            else
                Assert.True(a.AsSpan().SequenceEqual(b), $"{label}: {t.Name} differs after the round trip");
        }
    }

    /// <summary>bf16(bf16(w - 1) + 1), element by element, computed here independently of the recipe code.</summary>
    public static byte[] ExpectedNormRoundTrip(byte[] bf16)
    {
        var result = new byte[bf16.Length];
        for (int i = 0; i < bf16.Length; i += 2)
        {
            float w = BitConverter.UInt32BitsToSingle((uint)BitConverter.ToUInt16(bf16, i) << 16);
            float m = BitConverter.UInt32BitsToSingle((uint)RoundToBFloat16(w - 1f) << 16);
            BitConverter.TryWriteBytes(result.AsSpan(i), RoundToBFloat16(m + 1f));
        }
        return result;
    }

    private static ushort RoundToBFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        uint lsb = (bits >> 16) & 1;
        return (ushort)((bits + 0x7FFF + lsb) >> 16);
    }
}
