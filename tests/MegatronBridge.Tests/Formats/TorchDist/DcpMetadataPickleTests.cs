using MegatronBridge.Formats.TorchDist;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchDist;

public class DcpMetadataPickleTests
{
    [Theory]
    [InlineData("golden_torch_dist")]
    [InlineData("golden_mcore_features")]
    [InlineData("golden_trained_tp2/iter_0001000")]
    public void Megatron_metadata_parses_and_reserializes_byte_for_byte(string folder)
    {
        var path = Path.Combine(TestPaths.Golden(folder), ".metadata");
        var golden = File.ReadAllBytes(path);
        var parsed = DcpMetadataPickle.Parse(golden, path);
        Assert.Equal(golden, DcpMetadataPickle.Serialize(parsed));
    }

    [Fact]
    public void Golden_torch_dist_metadata_has_the_expected_entries()
    {
        var path = Path.Combine(TestPaths.Golden("golden_torch_dist"), ".metadata");
        var md = DcpMetadataPickle.Parse(File.ReadAllBytes(path), path);
        Assert.Equal(
            new[] { "decoder.layers.0.self_attention.linear_qkv.weight", "embedding.word_embeddings.weight",
                    "decoder.layers.0.mlp.experts.experts.linear_fc1.weight", "common_state/shard_0_1" },
            md.Entries.Select(e => e.Fqn));
        var qkv = Assert.IsType<DcpTensorEntry>(md.Entries[0]);
        Assert.Equal(DType.BF16, qkv.DType);
        Assert.Equal(new long[] { 4, 6 }, qkv.Size);
        Assert.IsType<DcpBytesEntry>(md.Entries[3]);
        var experts = Assert.IsType<DcpTensorEntry>(md.Entries[2]);
        Assert.Equal(2, experts.Chunks.Count);
        Assert.Equal(new long[] { 1, 0, 0 }, experts.Chunks[1].Offsets);
        Assert.Equal(5, md.StorageData.Count);
        Assert.Equal(new DcpStorageInfo("__0_0.distcp", 0, 1261), md.StorageData[0].Info);
        Assert.Null(md.StorageData[0].Key.Offset);
        Assert.Equal(new DcpStorageInfo("__0_0.distcp", 1261, 1577), md.StorageData[1].Info);
        Assert.Equal("1.0.0", md.Version);
        Assert.NotNull(md.SaveId);
    }

    [Fact]
    public void Plain_dcp_metadata_with_planner_data_and_posix_path_parses()
    {
        var path = Path.Combine(TestPaths.Golden("golden_dcp"), ".metadata");
        var md = DcpMetadataPickle.Parse(File.ReadAllBytes(path), path);
        Assert.Equal("/tmp/golden/golden_dcp", md.CheckpointId);
        Assert.Contains(md.Entries, e => e is DcpTensorEntry { DType: DType.BF16 });
    }
}

public class HostileMetadataTests
{
    [Fact]
    public void Metadata_pickle_naming_os_system_is_rejected_when_opening_the_checkpoint()
    {
        using var temp = TestPaths.NewTempDir();
        // protocol 4: STACK_GLOBAL os.system, then REDUCE with ('id',)
        var hostile = new byte[] { 0x80, 4, 0x8C, 2, (byte)'o', (byte)'s', 0x94, 0x8C, 6, (byte)'s', (byte)'y', (byte)'s', (byte)'t', (byte)'e', (byte)'m', 0x94, 0x93, 0x94,
            0x8C, 2, (byte)'i', (byte)'d', 0x94, 0x85, 0x94, 0x52, 0x94, 0x2E };
        File.WriteAllBytes(temp.Sub(".metadata"), hostile);
        var e = Assert.Throws<InvalidInputException>(() => TorchDistCheckpoint.Open(temp.Path));
        Assert.Contains("os.system", e.Message);
        Assert.Contains(".metadata", e.Message);
    }

    [Fact]
    public void Truncated_metadata_is_rejected()
    {
        var path = Path.Combine(TestPaths.Golden("golden_torch_dist"), ".metadata");
        var bytes = File.ReadAllBytes(path);
        var e = Assert.Throws<InvalidInputException>(() => DcpMetadataPickle.Parse(bytes.AsMemory(0, bytes.Length / 2), path));
        Assert.Contains("truncated", e.Message);
    }
}
