using MegatronBridge.Conversion.Checkpoints;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Conversion.Checkpoints;

public class TorchDistRoundTripTests
{
    /// <summary>HF -> torch_dist -> HF reproduces every tensor byte for byte, except the GDN output norm (bf16(bf16(w-1)+1)).</summary>
    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void ImportThenExportReproducesEveryTensor(string fixture)
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture(fixture);
        var imported = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("megatron")));
        Assert.True(File.Exists(Path.Combine(imported.MegatronPath, MegatronCheckpointFolder.TrackerFileName)));
        Assert.Equal("0", File.ReadAllText(Path.Combine(imported.MegatronPath, MegatronCheckpointFolder.TrackerFileName)));
        Assert.True(File.Exists(Path.Combine(imported.IterationFolder, ".metadata")));
        Assert.True(File.Exists(Path.Combine(imported.IterationFolder, "metadata.json")));

        var exported = CheckpointConverter.Export(new ExportRequest(hfDir, imported.MegatronPath, tmp.Sub("hf")));
        using var original = SafetensorsCheckpoint.Open(hfDir);
        using var roundTrip = SafetensorsCheckpoint.Open(exported.HfPath);
        Assert.Equal(original.Tensors.Select(t => t.ToString()), roundTrip.Tensors.Select(t => t.ToString()));
        var lossy = new List<string>();
        foreach (var t in original.Tensors)
        {
            var a = original.ReadAll(t.Name);
            var b = roundTrip.ReadAll(t.Name);
            if (t.Name.EndsWith("linear_attn.norm.weight", StringComparison.Ordinal))
            {
                lossy.Add(t.Name);
                Assert.Equal(ExpectedNormRoundTrip(a), b);
            }
            else
            {
                Assert.True(a.AsSpan().SequenceEqual(b), $"{fixture}: {t.Name} differs after the round trip");
            }
        }
        Assert.Equal(lossy.Order(), exported.LossyTensors.Order());
        Assert.True(File.Exists(Path.Combine(exported.HfPath, "config.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(hfDir, "config.json")), File.ReadAllBytes(Path.Combine(exported.HfPath, "config.json")));
    }

    /// <summary>bf16(bf16(w - 1) + 1), element by element, computed here independently of the recipe code.</summary>
    private static byte[] ExpectedNormRoundTrip(byte[] bf16)
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

    [Fact]
    public void ImportRefusesToOverwriteWithoutForceAndLeavesNoPartialFolder()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        var target = tmp.Sub("megatron");
        CheckpointConverter.Import(new ImportRequest(hfDir, target));
        var e = Assert.Throws<IOException>(() => CheckpointConverter.Import(new ImportRequest(hfDir, target)));
        Assert.Contains("--force", e.Message);
        CheckpointConverter.Import(new ImportRequest(hfDir, target) { Force = true });
        Assert.Equal(new[] { "megatron" }, Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName));
    }
}
