using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchDist;

public class TorchDistWriterGoldenTests
{
    /// <summary>
    /// Feeds the writer the golden checkpoint's inputs (keys in state-dict order, chunk grids, index hints, chunk bytes,
    /// object values, save_id, checkpoint_id) and compares every file it writes with the golden bytes.
    /// </summary>
    [Theory]
    [InlineData("golden_torch_dist")]
    [InlineData("golden_mcore_features")]
    public void Regenerates_golden_checkpoint_byte_for_byte(string folder)
    {
        var golden = TestPaths.Golden(folder);
        var mdPath = Path.Combine(golden, ".metadata");
        var md = DcpMetadataPickle.Parse(File.ReadAllBytes(mdPath), mdPath);
        var dataPath = Path.Combine(golden, "__0_0.distcp");

        using var temp = TestPaths.NewTempDir();
        var writer = new TorchDistWriter(temp.Path) { SaveId = md.SaveId, CheckpointId = md.CheckpointId };
        using (var file = File.OpenHandle(dataPath))
        {
            foreach (var entry in md.Entries)
            {
                var items = md.StorageData.Where(s => s.Key.Fqn == entry.Fqn).ToList();
                if (entry is DcpTensorEntry t)
                {
                    var chunks = t.Chunks.Select(c =>
                    {
                        var item = items.Single(s => s.Key.Offset!.SequenceEqual(c.Offsets));
                        var tensor = (TorchTensorRef)TorchLoad.Load(TorchZipArchive.Open(file, dataPath, item.Info.Offset, item.Info.Length))!;
                        var bytes = tensor.ReadAll();
                        return new TorchDistChunk(c.Offsets, c.Sizes, sink => sink.Write(0, bytes), item.Key.Index);
                    }).ToList();
                    writer.AddTensor(t.Fqn, t.DType, t.Size, chunks);
                }
                else
                {
                    var item = items.Single();
                    var values = (List<object?>)TorchLoad.Load(TorchZipArchive.Open(file, dataPath, item.Info.Offset, item.Info.Length))!;
                    writer.AddObject(entry.Fqn, values.Select(ToWritable));
                }
            }
        }
        writer.Write();

        foreach (var name in new[] { "__0_0.distcp", ".metadata", "metadata.json" })
        {
            Assert.True(File.ReadAllBytes(Path.Combine(golden, name)).AsSpan().SequenceEqual(File.ReadAllBytes(temp.Sub(name))), $"{folder}/{name} differs");
        }
        Assert.False(File.Exists(temp.Sub(".metadata.tmp")));
    }

    private static object? ToWritable(object? value) => value switch
    {
        TorchTensorRef t => TorchTensorValue.FromBytes(t.DType, t.Shape, t.ReadAll()),
        List<object?> list => list.Select(ToWritable).ToList(),
        PyDict dict => dict.Items.Aggregate(new PyDict(), (d, kv) => d.Add(kv.Key, ToWritable(kv.Value))),
        _ => value,
    };

    [Fact]
    public void Rejects_chunks_that_do_not_tile_the_tensor()
    {
        var writer = new TorchDistWriter("unused");
        var half = new TorchDistChunk(new long[] { 0, 0 }, new long[] { 2, 4 }, _ => { });
        var e = Assert.Throws<ArgumentException>(() => writer.AddTensor("w", MegatronBridge.Tensors.DType.BF16, new long[] { 4, 4 }, new[] { half }));
        Assert.Contains("cover 8 of 16", e.Message);
        var overlapping = new TorchDistChunk(new long[] { 1, 0 }, new long[] { 2, 4 }, _ => { });
        var e2 = Assert.Throws<ArgumentException>(() => writer.AddTensor("w2", MegatronBridge.Tensors.DType.BF16, new long[] { 4, 4 }, new[] { half, overlapping }));
        Assert.Contains("overlap", e2.Message);
        var outside = new TorchDistChunk(new long[] { 3, 0 }, new long[] { 2, 4 }, _ => { });
        Assert.Throws<ArgumentException>(() => writer.AddTensor("w3", MegatronBridge.Tensors.DType.BF16, new long[] { 4, 4 }, new[] { half, outside }));
    }
}
