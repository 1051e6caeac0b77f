using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchDist;

/// <summary>The data file is written in a few regions at once; the bytes must equal a single sequential writer's.</summary>
public class TorchDistParallelWriteTests
{
    private static string WriteWith(string folder, int regions)
    {
        var writer = new TorchDistWriter(folder) { SaveId = "fixed", CheckpointId = "fixed", ParallelRegions = regions };
        var random = new Random(5);
        for (int t = 0; t < 9; t++)
        {
            // Tensors of different sizes, one written out of order (its CRC is read back from the file).
            var data = new byte[(t + 1) * 1000 + t];
            random.NextBytes(data);
            bool reverse = t == 4;
            writer.AddTensor($"t{t}", DType.U8, new long[] { data.Length }, sink =>
            {
                if (!reverse) { sink.Write(0, data); return; }
                sink.Write(data.Length / 2, data.AsSpan(data.Length / 2));
                sink.Write(0, data.AsSpan(0, data.Length / 2));
            });
        }
        writer.AddObject("obj", new object?[] { "value" });
        writer.Write();
        return folder;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(16)] // more regions than items: every item its own region
    public void ParallelRegions_WriteTheSameBytesAsOneWriter(int regions)
    {
        using var temp = TestPaths.NewTempDir();
        var one = WriteWith(temp.Sub("one"), 1);
        var many = WriteWith(temp.Sub("many"), regions);
        foreach (var name in new[] { TorchDistWriter.DataFileName, TorchDistWriter.MetadataFileName })
            Assert.Equal(File.ReadAllBytes(Path.Combine(one, name)), File.ReadAllBytes(Path.Combine(many, name)));
        using var checkpoint = TorchDistCheckpoint.Open(many);
        Assert.Equal(9, checkpoint.Tensors.Count);
    }

    [Fact]
    public void AFailingWriter_SurfacesItsOwnException()
    {
        var items = Enumerable.Range(0, 8).ToList();
        var e = Assert.Throws<IOException>(() => BoundedParallel.ForEach(items, 4, i =>
        {
            if (i == 5) throw new IOException("disk full while writing item 5");
        }));
        Assert.Equal("disk full while writing item 5", e.Message);
    }
}
