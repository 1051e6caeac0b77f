using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchZip;

public class TorchSaveGoldenTests
{
    public static IEnumerable<object[]> GoldenItems()
    {
        foreach (var folder in new[] { "golden_torch_dist", "golden_mcore_features" })
        {
            var path = Path.Combine(TestPaths.Golden(folder), ".metadata");
            var md = DcpMetadataPickle.Parse(File.ReadAllBytes(path), path);
            foreach (var item in md.StorageData) yield return new object[] { folder, item.Key.Fqn, item.Info.Offset, item.Info.Length };
        }
    }

    private static byte[] GoldenSlice(string folder, long offset, long length) =>
        File.ReadAllBytes(Path.Combine(TestPaths.Golden(folder), "__0_0.distcp")).AsSpan((int)offset, (int)length).ToArray();

    /// <summary>Turns what the reader found back into writer values (tensor data copied out of the golden item).</summary>
    private static object? ToWritable(object? value) => value switch
    {
        TorchTensorRef t => TorchTensorValue.FromBytes(t.DType, t.Shape, t.ReadAll()),
        List<object?> list => list.Select(ToWritable).ToList(),
        PyTuple tuple => new PyTuple(tuple.Items.Select(ToWritable).ToArray()),
        PyDict dict => dict.Items.Aggregate(new PyDict(), (d, kv) => d.Add(kv.Key, ToWritable(kv.Value))),
        _ => value,
    };

    [Theory]
    [MemberData(nameof(GoldenItems))]
    public void Every_golden_item_is_regenerated_byte_for_byte(string folder, string fqn, long offset, long length)
    {
        var path = Path.Combine(TestPaths.Golden(folder), "__0_0.distcp");
        object? loaded;
        using (var file = File.OpenHandle(path))
        {
            var archive = TorchZipArchive.Open(file, path, offset, length);
            Assert.Equal("archive", archive.ArchiveName);
            loaded = ToWritable(TorchLoad.Load(archive));
        }
        var prepared = TorchSave.Prepare(loaded);
        Assert.Equal(length, prepared.Length);
        var ms = new MemoryStream();
        prepared.WriteTo(ms);
        Assert.True(GoldenSlice(folder, offset, length).AsSpan().SequenceEqual(ms.ToArray()), $"{folder} item {fqn} differs");
    }

    [Fact]
    public void Extra_state_none_and_common_state_items_from_explicit_values()
    {
        // golden_mcore_features: bytes items at 0 (empty uint8 tensor), 4539 ([None]) and 8321 (Megatron common state)
        var extraState = new List<object?> { TorchTensorValue.FromBytes(DType.U8, new long[] { 0 }, Array.Empty<byte>()) };
        Assert.Equal(GoldenSlice("golden_mcore_features", 0, 1513), Save(extraState));
        Assert.Equal(GoldenSlice("golden_mcore_features", 4539, 1261), Save(new List<object?> { null }));
        var common = new PyDict()
            .Add("checkpoint_version", 3.0)
            .Add("iteration", 0L)
            .Add("content_metadata", new PyDict().Add("singleton_local_shards", false).Add("chained_optim_avoid_prefix", true));
        Assert.Equal(GoldenSlice("golden_mcore_features", 8321, 1389), Save(new List<object?> { common }));
        Assert.Equal(GoldenSlice("golden_torch_dist", 0, 1261), Save(new List<object?> { new PyDict().Add("iteration_blob", 7L) }));
    }

    [Fact]
    public void Streamed_tensor_chunk_matches_golden_even_when_written_out_of_order()
    {
        // golden_torch_dist: qkv chunk (4, 6) bf16 at offset 1261, 1577 bytes; data/0 starts at item offset 704
        var golden = GoldenSlice("golden_torch_dist", 1261, 1577);
        var data = golden.AsSpan(704, 48).ToArray();
        var backwards = new TorchTensorValue(DType.BF16, new long[] { 4, 6 }, sink =>
        {
            for (int i = 3; i >= 0; i--) sink.Write(i * 12, data.AsSpan(i * 12, 12));
        });
        Assert.Equal(golden, Save(backwards));
    }

    private static byte[] Save(object? value)
    {
        var ms = new MemoryStream();
        TorchSave.Write(ms, value);
        return ms.ToArray();
    }
}
