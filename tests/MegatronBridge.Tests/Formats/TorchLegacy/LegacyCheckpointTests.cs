using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchLegacy;

public class LegacyCheckpointTests
{
    [Theory]
    [InlineData(0, 0, 0, 1, 1, "mp_rank_00")]
    [InlineData(3, 0, 0, 1, 1, "mp_rank_03")]
    [InlineData(1, 2, 0, 4, 1, "mp_rank_01_002")]
    [InlineData(1, 0, 5, 1, 8, "mp_rank_01_005")]
    [InlineData(12, 3, 7, 4, 8, "mp_rank_12_003_007")]
    public void Rank_folder_names_follow_megatron(int tp, int pp, int ep, int ppSize, int epSize, string expected) =>
        Assert.Equal(expected, LegacyCheckpointNames.RankFolder(tp, pp, ep, ppSize, epSize));

    [Fact]
    public void Written_file_reads_back_tensors_values_and_header()
    {
        using var temp = TestPaths.NewTempDir();
        var path = LegacyCheckpointNames.RankFile(temp.Sub("release"), 0);
        var (_, qkv) = TensorFactory.Iota("qkv", 100, 6, 4);
        var norm = TensorFactory.BFloat16(1f, 0.5f, -2f, 3.25f);
        var writer = new LegacyCheckpointWriter(path)
        {
            Iteration = 0,
            Args = LegacyCheckpointWriter.Namespace(new PyDict().Add("num_layers", 2L).Add("hidden_size", 4L)),
        };
        writer.AddTensor("decoder.layers.0.self_attention.linear_qkv.weight", DType.I32, new long[] { 6, 4 }, s => s.Write(0, qkv));
        writer.AddTensor("decoder.final_layernorm.weight", TorchTensorValue.FromBytes(DType.BF16, new long[] { 4 }, norm));
        writer.AddValue("output_layer._extra_state", null);
        writer.AddValue("decoder.layers.0.self_attention.linear_qkv._extra_state", TorchTensorValue.FromBytes(DType.U8, new long[] { 0 }, Array.Empty<byte>()));
        writer.Write();

        Assert.Equal("mp_rank_00", Path.GetFileName(Path.GetDirectoryName(path)));
        using (var file = File.OpenHandle(path))
        {
            var archive = TorchZipArchive.Open(file, path, 0, RandomAccess.GetLength(file));
            Assert.Equal("model_optim_rng", archive.ArchiveName);
        }

        using var back = LegacyCheckpointFile.Open(path);
        Assert.Equal(0L, back.Iteration);
        Assert.Equal(3.0, back.CheckpointVersion);
        Assert.True(back.Args!.TryGetAttribute("hidden_size", out var hidden) && (long)hidden! == 4);
        Assert.Equal(new[] { "decoder.layers.0.self_attention.linear_qkv.weight", "decoder.final_layernorm.weight", "decoder.layers.0.self_attention.linear_qkv._extra_state" },
            back.Tensors.Select(t => t.Name));
        Assert.Equal(qkv, back.ReadAll("decoder.layers.0.self_attention.linear_qkv.weight"));
        Assert.Equal(norm, back.ReadAll("decoder.final_layernorm.weight"));
        Assert.Equal(new TensorShape(6, 4), back.Get("decoder.layers.0.self_attention.linear_qkv.weight").Shape);
        Assert.True(back.ModelExtras.ContainsKey("output_layer._extra_state"));
        Assert.Empty(back.SkippedKeys);
    }

    [Fact]
    public void Optimizer_and_rng_keys_are_parsed_and_counted_not_exposed()
    {
        using var temp = TestPaths.NewTempDir();
        var path = temp.Sub("model_optim_rng.pt");
        var weight = TorchTensorValue.FromBytes(DType.F32, new long[] { 2 }, new byte[8]);
        var model = PyInstance.Reduce(new PyGlobal("collections", "OrderedDict")).WithDictItems(new PyDict().Add("w", weight));
        var root = new PyDict()
            .Add("checkpoint_version", 3.0).Add("iteration", 5L).Add("model", model)
            .Add("optimizer", new PyDict().Add("state", new PyDict().Add(0L, new PyDict().Add("exp_avg", TorchTensorValue.FromBytes(DType.F32, new long[] { 2 }, new byte[8])))))
            .Add("rng_state", new List<object?> { new PyDict().Add("random_rng_state", PyTuple.Of(3L, PyTuple.Of(1L, 2L), null)) })
            .Add("num_floating_point_operations_so_far", 0L);
        TorchSave.WriteFile(path, root);

        using var back = LegacyCheckpointFile.Open(path);
        Assert.Equal(5L, back.Iteration);
        Assert.Equal(new[] { "optimizer", "rng_state", "num_floating_point_operations_so_far" }, back.SkippedKeys);
        Assert.Equal(new[] { "w" }, back.Tensors.Select(t => t.Name));
        Assert.Contains("no 'model0' state dict", Assert.Throws<InvalidInputException>(() => LegacyCheckpointFile.Open(path, "model0")).Message);
    }

    [Fact]
    public void Hostile_data_pkl_is_rejected_without_running_anything()
    {
        using var temp = TestPaths.NewTempDir();
        var path = temp.Sub("model_optim_rng.pt");
        // {'model': os.system('touch pwned')} in protocol 2
        var pickle = new MemoryStream();
        pickle.Write(new byte[] { 0x80, 2, (byte)'}', (byte)'X', 5, 0, 0, 0 });
        pickle.Write("model"u8);
        pickle.Write("cos\nsystem\nX\x0b\0\0\0touch pwned\x85R"u8);
        pickle.Write("s."u8);
        using (var stream = File.Create(path))
        {
            var zip = new TorchZipWriter(stream, "model_optim_rng");
            zip.WriteRecord("data.pkl", pickle.ToArray());
            zip.Finish();
        }
        var e = Assert.Throws<InvalidInputException>(() => LegacyCheckpointFile.Open(path));
        Assert.Contains("os.system", e.Message);
        Assert.Contains(path, e.Message);
        Assert.False(File.Exists(Path.Combine(temp.Path, "pwned")));
    }

    [Fact]
    public void Not_a_zip_file_is_rejected_clearly()
    {
        using var temp = TestPaths.NewTempDir();
        var path = temp.Sub("model_optim_rng.pt");
        File.WriteAllBytes(path, new byte[100]);
        Assert.Contains("not a zip archive", Assert.Throws<InvalidInputException>(() => LegacyCheckpointFile.Open(path)).Message);
    }
}
