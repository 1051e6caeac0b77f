using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchLegacy;

/// <summary>A legacy rank file's pickle is byte-identical to what torch.save writes for the same dict.</summary>
public class LegacyTorchSaveGoldenTests
{
    private static byte[] Record(string path, string name)
    {
        using var file = File.OpenHandle(path);
        return TorchZipArchive.Open(file, path, 0, RandomAccess.GetLength(file)).ReadRecord(name);
    }

    [Fact]
    public void Data_pkl_with_two_model_chunks_equals_torch_save()
    {
        using var temp = TestPaths.NewTempDir();
        var path = Path.Combine(temp.Path, "release", "mp_rank_00", "model_optim_rng.pt");
        var fc1 = TensorFactory.BFloat16(1f, -2f, 0.5f, 3.25f, 0f, -0.125f);
        var norm = TensorFactory.BFloat16(1f, 0.5f, -4f);
        var writer = new LegacyCheckpointWriter(path) { Iteration = 0 };
        writer.AddValue("model0", "decoder.layers.0.mlp.linear_fc1.weight", TorchTensorValue.FromBytes(DType.BF16, new long[] { 2, 3 }, fc1));
        writer.AddValue("model0", "decoder.layers.0.mlp.linear_fc1._extra_state", TorchTensorValue.FromBytes(DType.U8, new long[] { 0 }, Array.Empty<byte>()));
        writer.AddValue("model1", "decoder.final_layernorm.weight", TorchTensorValue.FromBytes(DType.BF16, new long[] { 3 }, norm));
        writer.AddValue("model1", "output_layer._extra_state", null);
        writer.Write();

        var golden = Path.Combine(TestPaths.Golden("golden_legacy_torch_save"), "model_optim_rng.pt");
        Assert.Equal(Record(golden, "data.pkl"), Record(path, "data.pkl"));
        Assert.Equal(Record(golden, "data/0"), Record(path, "data/0"));
        Assert.Equal(Record(golden, "data/2"), Record(path, "data/2"));
    }
}
