using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

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
        HfRoundTrip.AssertSameTensors(hfDir, exported.HfPath, fixture);
        using var original = SafetensorsCheckpoint.Open(hfDir);
        using var roundTrip = SafetensorsCheckpoint.Open(exported.HfPath);
        Assert.Equal(original.Tensors.Select(t => t.Name), roundTrip.Tensors.Select(t => t.Name));
        var lossy = original.Tensors.Select(t => t.Name).Where(n => n.EndsWith("linear_attn.norm.weight", StringComparison.Ordinal));
        Assert.Equal(lossy.Order(), exported.LossyTensors.Order());
        Assert.True(File.Exists(Path.Combine(exported.HfPath, "config.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(hfDir, "config.json")), File.ReadAllBytes(Path.Combine(exported.HfPath, "config.json")));
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

public class TorchDistImportLayoutTests
{
    [Fact]
    public void ImportWritesTheBridgeTrainStateBesideTheTracker()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen35-text-dense-tied-tiny"), tmp.Sub("m")));
        var inIter = Path.Combine(imported.IterationFolder, "train_state.pt");
        var latest = Path.Combine(imported.MegatronPath, "latest_train_state.pt");
        Assert.Equal(File.ReadAllBytes(inIter), File.ReadAllBytes(latest));
        var state = (MegatronBridge.Formats.Pickle.PyDict)MegatronBridge.Formats.TorchZip.TorchLoad.LoadFile(latest)!;
        Assert.True(state.TryGet("step", out var step));
        var tensor = Assert.IsType<MegatronBridge.Formats.TorchZip.TorchTensorRef>(step);
        Assert.Equal(MegatronBridge.Tensors.DType.I64, tensor.DType);
        Assert.Equal(0L, BitConverter.ToInt64(tensor.ReadAll()));
    }
}
