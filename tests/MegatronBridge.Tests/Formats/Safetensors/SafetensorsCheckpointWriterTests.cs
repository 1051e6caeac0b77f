using System.Text;
using System.Text.Json.Nodes;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.Safetensors;

public class SafetensorsCheckpointWriterTests
{
    private const long SmallLimit = 300_000;

    private static SafetensorsCheckpointWriteOptions Fast => new() { File = SafetensorsWriteOptions.Default with { FlushToDisk = false } };

    /// <summary>Writes <paramref name="source"/> into <paramref name="folder"/> with a small shard limit.</summary>
    private static SafetensorsShardPlan WriteSharded(SafetensorsCheckpoint source, string folder, long limit = SmallLimit)
    {
        var plan = SafetensorsShardPlan.BySize(source.Tensors, limit);
        using var writer = SafetensorsCheckpointWriter.Create(folder, plan, Fast);
        writer.CopyFrom(source);
        writer.Commit();
        return plan;
    }

    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void ShardedWriteReadsBackTheSameTensorsWithACorrectIndex(string fixture)
    {
        using var source = SafetensorsCheckpoint.Open(TestPaths.Fixture(fixture));
        using var tmp = TestPaths.NewTempDir();
        var plan = WriteSharded(source, tmp.Path);
        Assert.True(plan.Shards.Count > 2);

        using (var back = SafetensorsCheckpoint.Open(tmp.Path))
        {
            Assert.Equal(source.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), back.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
            foreach (var t in source.Tensors)
            {
                Assert.Equal(t, back.Get(t.Name));
                Assert.Equal(source.ReadAll(t.Name), back.ReadAll(t.Name));
            }
            // Every shard respects the limit unless it holds a single oversized tensor.
            foreach (var file in back.Files)
            {
                long bytes = file.Entries.Sum(e => e.Meta.ByteLength);
                Assert.True(bytes <= SmallLimit || file.Entries.Count == 1, $"{file.Path} holds {bytes} bytes");
            }
        }

        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Path, "model.safetensors.index.json")))!.AsObject();
        Assert.Equal(source.Tensors.Sum(t => t.ByteLength), (long)index["metadata"]!["total_size"]!);
        Assert.Equal(source.Tensors.Sum(t => t.NumElements), (long)index["metadata"]!["total_parameters"]!);
        var weightMap = index["weight_map"]!.AsObject();
        var keys = weightMap.Select(p => p.Key).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys); // sort_keys=True
        Assert.Equal(source.Tensors.Count, keys.Count);
        int n = plan.Shards.Count;
        Assert.All(weightMap, p => Assert.Matches($"^model-\\d{{5}}-of-{n:D5}\\.safetensors$", (string)p.Value!));
        // Exactly the shards and the index: no temporary file left.
        Assert.Equal(n + 1, Directory.GetFiles(tmp.Path).Length);
    }

    [Fact]
    public void IndexTextIsFormattedLikeTransformers()
    {
        // json.dumps(index, indent=2, sort_keys=True) + "\n", written out by hand.
        var tensors = new[]
        {
            new TensorMeta("b.weight", DType.BF16, new TensorShape(4)),
            new TensorMeta("a.weight", DType.BF16, new TensorShape(4)),
            new TensorMeta("c.w\u00e9", DType.F32, new TensorShape(2)),
        };
        var plan = SafetensorsShardPlan.BySize(tensors, 8);
        using var tmp = TestPaths.NewTempDir();
        using (var writer = SafetensorsCheckpointWriter.Create(tmp.Path, plan, Fast))
        {
            foreach (var t in tensors) writer.WriteTensor(t.Name, new byte[t.ByteLength]);
            writer.Commit();
        }
        const string expected = """
            {
              "metadata": {
                "total_parameters": 10,
                "total_size": 24
              },
              "weight_map": {
                "a.weight": "model-00002-of-00003.safetensors",
                "b.weight": "model-00001-of-00003.safetensors",
                "c.w\u00e9": "model-00003-of-00003.safetensors"
              }
            }

            """;
        Assert.Equal(expected.Replace("\r\n", "\n"), File.ReadAllText(Path.Combine(tmp.Path, "model.safetensors.index.json")));
    }

    [Fact]
    public void TotalParametersCanBeLeftOut()
    {
        var tensors = new[] { new TensorMeta("a", DType.U8, new TensorShape(4)), new TensorMeta("b", DType.U8, new TensorShape(4)) };
        using var tmp = TestPaths.NewTempDir();
        using (var writer = SafetensorsCheckpointWriter.Create(tmp.Path, SafetensorsShardPlan.BySize(tensors, 4), Fast with { TotalParameters = -1 }))
        {
            foreach (var t in tensors) writer.WriteTensor(t.Name, new byte[4]);
            writer.Commit();
        }
        var text = File.ReadAllText(Path.Combine(tmp.Path, "model.safetensors.index.json"));
        Assert.StartsWith("{\n  \"metadata\": {\n    \"total_size\": 8\n  },", text);
    }

    [Theory]
    [InlineData("qwen35-text-dense-tied-tiny")]
    [InlineData("qwen35-text-moe-tiny")]
    [InlineData("qwen3-vl-dense-tiny")]
    public void OneShardIsASingleModelFileIdenticalToWhatSavePretrainedWrote(string fixture)
    {
        // These fixtures have __metadata__ first, as the safetensors library writes it; default options must match.
        var original = Path.Combine(TestPaths.Fixture(fixture), "model.safetensors");
        using var source = SafetensorsCheckpoint.Open(TestPaths.Fixture(fixture));
        using var tmp = TestPaths.NewTempDir();
        var plan = SafetensorsShardPlan.BySize(source.Tensors, ShardSize.Parse("5GB"));
        Assert.False(plan.WritesIndex);
        using (var writer = SafetensorsCheckpointWriter.Create(tmp.Path, plan))
        {
            writer.CopyFrom(source);
            writer.Commit();
        }
        Assert.Equal(new[] { "model.safetensors" }, Directory.GetFiles(tmp.Path).Select(Path.GetFileName));
        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(tmp.Sub("model.safetensors")));
    }

    [Fact]
    public void WritingIntoAnExistingLayoutReproducesEveryFile()
    {
        using var source = SafetensorsCheckpoint.Open(TestPaths.Fixture("qwen35-vl-moe-tiny"));
        using var tmp = TestPaths.NewTempDir();
        var first = tmp.Sub("first");
        WriteSharded(source, first, limit: 250_000);
        var second = tmp.Sub("second");
        using (var layout = SafetensorsCheckpoint.Open(first))
        {
            // Tensors offered in a different order than in the layout: the files must still come out the same.
            var plan = SafetensorsShardPlan.FromCheckpoint(source.Tensors.Reverse(), layout);
            using var writer = SafetensorsCheckpointWriter.Create(second, plan, Fast);
            var executor = new RecipeExecutor(bufferBytes: 8192);
            foreach (var t in source.Tensors) executor.Execute(TensorRecipe.Copy(t.Name, t), source, writer.Sink(t.Name));
            writer.Commit();
        }
        var names = Directory.GetFiles(first).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(names, Directory.GetFiles(second).Select(Path.GetFileName).Order().ToList());
        foreach (var name in names)
            Assert.Equal(File.ReadAllBytes(Path.Combine(first, name!)), File.ReadAllBytes(Path.Combine(second, name!)));
    }

    [Fact]
    public void AnAbandonedWriteLeavesNoCheckpoint()
    {
        using var source = SafetensorsCheckpoint.Open(TestPaths.Fixture("qwen35-text-dense-tied-tiny"));
        using var tmp = TestPaths.NewTempDir();
        var plan = SafetensorsShardPlan.BySize(source.Tensors, SmallLimit);
        using (var writer = SafetensorsCheckpointWriter.Create(tmp.Path, plan, Fast))
        {
            writer.WriteTensor(source.Tensors[0].Name, source.ReadAll(source.Tensors[0].Name));
            // Mid-write: only hidden temporary files, nothing that looks like a checkpoint.
            Assert.All(Directory.GetFiles(tmp.Path), f => Assert.EndsWith(".partial", f));
            Assert.Throws<FileNotFoundException>(() => SafetensorsCheckpoint.Open(tmp.Path));
        }
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void AnIncompleteTensorStopsTheCommitBeforeAnyFileIsRenamed()
    {
        var tensors = new[] { new TensorMeta("a", DType.U8, new TensorShape(4)), new TensorMeta("b", DType.U8, new TensorShape(4)) };
        using var tmp = TestPaths.NewTempDir();
        using (var writer = SafetensorsCheckpointWriter.Create(tmp.Path, SafetensorsShardPlan.BySize(tensors, 4), Fast))
        {
            writer.WriteTensor("a", new byte[4]);
            var e = Assert.Throws<InvalidOperationException>(writer.Commit);
            Assert.Contains("'b'", e.Message);
        }
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void AnExistingCheckpointIsOnlyReplacedWhenAskedAndStaleShardsGo()
    {
        using var source = SafetensorsCheckpoint.Open(TestPaths.Fixture("qwen35-text-dense-tied-tiny"));
        using var tmp = TestPaths.NewTempDir();
        WriteSharded(source, tmp.Path, limit: 200_000);
        int before = Directory.GetFiles(tmp.Path).Length;
        Assert.True(before > 3);

        var single = SafetensorsShardPlan.BySize(source.Tensors, ShardSize.Parse("1GB"));
        var e = Assert.Throws<IOException>(() => SafetensorsCheckpointWriter.Create(tmp.Path, single, Fast).Dispose());
        Assert.Contains(tmp.Path, e.Message);
        Assert.Equal(before, Directory.GetFiles(tmp.Path).Length);

        File.WriteAllText(tmp.Sub("config.json"), "{}");
        using (var writer = SafetensorsCheckpointWriter.Create(tmp.Path, single, Fast with { Overwrite = true }))
        {
            writer.CopyFrom(source);
            using (var old = SafetensorsCheckpoint.Open(tmp.Path)) Assert.NotNull(old.IndexPath); // untouched until the commit
            writer.Commit();
        }
        Assert.Equal(new[] { "config.json", "model.safetensors" }, Directory.GetFiles(tmp.Path).Select(Path.GetFileName).Order());
        using var back = SafetensorsCheckpoint.Open(tmp.Path);
        Assert.Equal(source.Tensors.Count, back.Tensors.Count);
    }

    [Fact]
    public void NonAsciiNamesAreEscapedInTheIndexAndReadBack()
    {
        var tensors = new[] { new TensorMeta("\u00fcber", DType.U8, new TensorShape(4)), new TensorMeta("\U0001F600", DType.U8, new TensorShape(4)) };
        using var tmp = TestPaths.NewTempDir();
        using (var writer = SafetensorsCheckpointWriter.Create(tmp.Path, SafetensorsShardPlan.BySize(tensors, 4), Fast))
        {
            writer.WriteTensor(tensors[0].Name, "abcd"u8);
            writer.WriteTensor(tensors[1].Name, "efgh"u8);
            writer.Commit();
        }
        var index = File.ReadAllText(Path.Combine(tmp.Path, "model.safetensors.index.json"), Encoding.UTF8);
        Assert.Contains("\"\\u00fcber\": \"model-00001-of-00002.safetensors\"", index);
        Assert.Contains("\"\\ud83d\\ude00\": \"model-00002-of-00002.safetensors\"", index);
        using var back = SafetensorsCheckpoint.Open(tmp.Path);
        Assert.Equal("efgh"u8.ToArray(), back.ReadAll("\U0001F600"));
    }

    [Fact]
    public void SinksCanBeWrittenFromSeveralThreads()
    {
        using var source = SafetensorsCheckpoint.Open(TestPaths.Fixture("qwen35-text-moe-tiny"));
        using var tmp = TestPaths.NewTempDir();
        var reference = tmp.Sub("reference");
        WriteSharded(source, reference);
        var parallel = tmp.Sub("parallel");
        using (var writer = SafetensorsCheckpointWriter.Create(parallel, SafetensorsShardPlan.BySize(source.Tensors, SmallLimit), Fast))
        {
            Parallel.ForEach(source.Tensors, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t =>
            {
                var data = source.ReadAll(t.Name);
                var sink = writer.Sink(t.Name);
                for (int at = 0; at < data.Length; at += 96) sink.Write(at, data.AsSpan(at, Math.Min(96, data.Length - at)));
            });
            writer.Commit();
        }
        foreach (var file in Directory.GetFiles(reference))
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(parallel, Path.GetFileName(file))));
    }

    [Fact]
    public void AnAbandonedOverwriteLeavesTheOldCheckpointAsItWas()
    {
        using var source = SafetensorsCheckpoint.Open(TestPaths.Fixture("qwen35-text-dense-tied-tiny"));
        using var tmp = TestPaths.NewTempDir();
        WriteSharded(source, tmp.Path, limit: 200_000);
        var before = Directory.GetFiles(tmp.Path).Order().Select(f => (f, File.ReadAllBytes(f))).ToList();
        using (var writer = SafetensorsCheckpointWriter.Create(tmp.Path, SafetensorsShardPlan.BySize(source.Tensors, 150_000), Fast with { Overwrite = true }))
        {
            writer.WriteTensor(source.Tensors[0].Name, source.ReadAll(source.Tensors[0].Name));
        }
        var after = Directory.GetFiles(tmp.Path).Order().Select(f => (f, File.ReadAllBytes(f))).ToList();
        Assert.Equal(before.Select(p => p.f), after.Select(p => p.f));
        for (int i = 0; i < before.Count; i++) Assert.Equal(before[i].Item2, after[i].Item2);
    }
}
