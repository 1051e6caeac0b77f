using System.Buffers.Binary;
using System.Text;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.Safetensors;

public class SafetensorsWriterTests
{
    public static IEnumerable<object[]> AllFixtureFiles()
    {
        foreach (var fixture in TestPaths.ModelFixtures)
        {
            yield return new object[] { fixture, "model.safetensors" };
            yield return new object[] { fixture, "reference_outputs.safetensors" };
        }
        yield return new object[] { "qwen35-processor-tiny", "reference_pixel_values.safetensors" };
    }

    [Theory]
    [MemberData(nameof(AllFixtureFiles))]
    public void RewritingAFixtureInItsOwnOrderReproducesItByteForByte(string fixture, string fileName)
    {
        var original = Path.Combine(TestPaths.Fixture(fixture), fileName);
        using var tmp = TestPaths.NewTempDir();
        var output = tmp.Sub(fileName);
        using (var source = SafetensorsFile.Open(original))
        {
            var options = new SafetensorsWriteOptions
            {
                Order = SafetensorsTensorOrder.AsGiven,
                Metadata = source.Metadata.Count == 0 ? null : source.Metadata.ToList(),
                MetadataPosition = source.MetadataPosition ?? SafetensorsMetadataPosition.First,
                FlushToDisk = false,
            };
            using var writer = SafetensorsWriter.Create(output, source.Tensors, options);
            // Tensor by tensor in reverse order and in odd-sized pieces: the result must not depend on write order.
            foreach (var entry in source.Entries.Reverse())
            {
                var sink = writer.Sink(entry.Meta.Name);
                var buffer = new byte[entry.Meta.ByteLength];
                source.Read(entry, 0, buffer);
                for (int at = 0; at < buffer.Length; at += 1000)
                    sink.Write(at, buffer.AsSpan(at, Math.Min(1000, buffer.Length - at)));
            }
            writer.Commit();
        }
        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(output));
        Assert.Single(Directory.GetFiles(tmp.Path)); // no temporary file left behind
    }

    [Theory]
    [MemberData(nameof(AllFixtureFiles))]
    public void TheLibraryOrderWithDefaultOptionsMatchesWhatSafetensorsWrote(string fixture, string fileName)
    {
        // The fixtures were written by the Python safetensors library, which sorts by dtype then name whatever
        // order it is given: feed the tensors shuffled and let the writer sort them.
        var original = Path.Combine(TestPaths.Fixture(fixture), fileName);
        using var tmp = TestPaths.NewTempDir();
        var output = tmp.Sub(fileName);
        using (var source = SafetensorsFile.Open(original))
        {
            var shuffled = source.Tensors.OrderBy(t => t.Name.GetHashCode(StringComparison.Ordinal)).ToList();
            var options = SafetensorsWriteOptions.Default with
            {
                Metadata = source.Metadata.Count == 0 ? null : SafetensorsWriteOptions.PyTorchMetadata,
                MetadataPosition = source.MetadataPosition ?? SafetensorsMetadataPosition.First,
            };
            using var writer = SafetensorsWriter.Create(output, shuffled, options);
            var executor = new RecipeExecutor(bufferBytes: 4096);
            foreach (var t in shuffled) executor.Execute(TensorRecipe.Copy(t.Name, t), new FileSource(source), writer.Sink(t.Name));
            writer.Commit();
        }
        Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(output));
    }

    [Fact]
    public void HeaderBytesMatchTheSafetensorsLibraryKnownAnswer()
    {
        // From the safetensors crate's own serialization test: one F32 [1, 2, 3] tensor "attn.0", no metadata,
        // gives a 64-byte header (59 bytes of JSON + 5 spaces).
        var layout = SafetensorsLayout.Plan(
            [new TensorMeta("attn.0", DType.F32, new TensorShape(1, 2, 3))],
            new SafetensorsWriteOptions { Metadata = null });
        var expectedJson = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
        var expected = new byte[8 + 64];
        expected[0] = 64;
        Encoding.ASCII.GetBytes(expectedJson).CopyTo(expected, 8);
        expected.AsSpan(8 + expectedJson.Length).Fill((byte)' ');
        Assert.Equal(expected, layout.Header);
        Assert.Equal(72 + 24, layout.FileLength);
    }

    [Fact]
    public void LibraryOrderIsDTypeRankDescendingThenNameByCodePoint()
    {
        var tensors = new[]
        {
            new TensorMeta("b", DType.Bool, new TensorShape(3)),
            new TensorMeta("z", DType.BF16, new TensorShape(2)),
            new TensorMeta("a", DType.F32, new TensorShape(1)),
            new TensorMeta("y", DType.I64, new TensorShape(1)),
            new TensorMeta("x", DType.F64, new TensorShape(1)),
            new TensorMeta("\U0001F600", DType.BF16, new TensorShape(1)), // beyond the BMP: sorts after U+FFFD
            new TensorMeta("\uFFFD", DType.BF16, new TensorShape(1)),
            new TensorMeta("c", DType.F8E4M3, new TensorShape(1)),
            new TensorMeta("d", DType.F8E5M2, new TensorShape(1)),
            new TensorMeta("e", DType.F16, new TensorShape(1)),
        };
        var order = SafetensorsLayout.SortLikeSafetensorsLibrary(tensors).Select(t => t.Name);
        Assert.Equal(new[] { "y", "x", "a", "z", "\uFFFD", "\U0001F600", "e", "c", "d", "b" }, order);
    }

    [Fact]
    public void SerdeStyleEscapingInHeaderIsReadBackToTheSameName()
    {
        var name = "we\"ird\\name\n\u0001é";
        using var tmp = TestPaths.NewTempDir();
        var path = tmp.Sub("x.safetensors");
        using (var w = SafetensorsWriter.Create(path, [new TensorMeta(name, DType.U8, new TensorShape(2))]))
        {
            w.WriteTensor(name, new byte[] { 7, 9 });
            w.Commit();
        }
        var (header, _) = RawSafetensors.Split(path);
        Assert.Contains("\"we\\\"ird\\\\name\\n\\u0001é\"", header); // serde_json: short escapes, \u00XX, UTF-8 kept
        using var f = SafetensorsFile.Open(path);
        var buffer = new byte[2];
        f.Read(name, 0, buffer);
        Assert.Equal(new byte[] { 7, 9 }, buffer);
    }

    [Fact]
    public void DisposingWithoutCommitLeavesNoFile()
    {
        using var tmp = TestPaths.NewTempDir();
        var path = tmp.Sub("model.safetensors");
        using (var w = SafetensorsWriter.Create(path, [new TensorMeta("t", DType.I32, new TensorShape(4))]))
        {
            w.Write("t", 0, new byte[8]);
            Assert.True(File.Exists(w.TempPath));
            Assert.False(File.Exists(path));
            Assert.DoesNotContain(".safetensors", Path.GetExtension(w.TempPath));
        }
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void CommitRefusesAnIncompleteTensor()
    {
        using var tmp = TestPaths.NewTempDir();
        var path = tmp.Sub("model.safetensors");
        using var w = SafetensorsWriter.Create(path, [new TensorMeta("a", DType.I32, new TensorShape(2)), new TensorMeta("b", DType.I32, new TensorShape(4))]);
        w.WriteTensor("a", new byte[8]);
        w.Write("b", 0, new byte[12]);
        var e = Assert.Throws<InvalidOperationException>(w.Commit);
        Assert.Contains("'b'", e.Message);
        Assert.Contains("12 of its 16 bytes", e.Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void WritesOutsideATensorOrBeyondItsSizeAreRefused()
    {
        using var tmp = TestPaths.NewTempDir();
        using var w = SafetensorsWriter.Create(tmp.Sub("m.safetensors"), [new TensorMeta("a", DType.I32, new TensorShape(2))]);
        Assert.Throws<ArgumentOutOfRangeException>(() => w.Write("a", 4, new byte[8]));
        Assert.Throws<KeyNotFoundException>(() => w.Write("nope", 0, new byte[1]));
        w.Write("a", 0, new byte[8]);
        var e = Assert.Throws<InvalidOperationException>(() => w.Write("a", 0, new byte[4]));
        Assert.Contains("overlapping", e.Message);
    }

    [Fact]
    public void DuplicateOrReservedNamesAreRefusedBeforeAnythingIsWritten()
    {
        using var tmp = TestPaths.NewTempDir();
        var t = new TensorMeta("a", DType.I32, new TensorShape(2));
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => SafetensorsWriter.Create(tmp.Sub("m.safetensors"), [t, t])).Message);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.Create(tmp.Sub("m.safetensors"), [t with { Name = "__metadata__" }]));
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }

    [Fact]
    public void HeaderIsPaddedToAMultipleOfEightWithSpaces()
    {
        for (int nameLength = 1; nameLength <= 9; nameLength++)
        {
            var layout = SafetensorsLayout.Plan([new TensorMeta(new string('n', nameLength), DType.U8, new TensorShape(1))]);
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(layout.Header);
            Assert.Equal(0UL, n % 8);
            Assert.Equal((long)n + 8, layout.Header.Length);
            var json = Encoding.UTF8.GetString(layout.Header, 8, (int)n);
            Assert.EndsWith("}", json.TrimEnd(' '));
            Assert.True(json.Length - json.TrimEnd(' ').Length < 8);
        }
    }

    [Fact]
    public void RecipesWithScatteredOutputWindowsExecuteStraightIntoTheFile()
    {
        // Concatenation along dim 1 writes each row of each part to a separate place in the file.
        var (a, aData) = TensorFactory.Iota("a", 0, 64, 3);
        var (b, bData) = TensorFactory.Iota("b", 1000, 64, 5);
        var source = new MemoryTensorSource().Add(a, aData).Add(b, bData);
        var recipe = TensorRecipe.Concat("ab", DType.I32, 1, [("a", StridedView.Contiguous(a.Shape)), ("b", StridedView.Contiguous(b.Shape))]);
        var first = new TensorMeta("first", DType.U8, new TensorShape(5));
        using var tmp = TestPaths.NewTempDir();
        var path = tmp.Sub("m.safetensors");
        using (var w = SafetensorsWriter.Create(path, [first, recipe.Output], SafetensorsWriteOptions.Default with { WriteBufferBytes = 256 }))
        {
            new RecipeExecutor(bufferBytes: 4096).Execute(recipe, source, w.Sink("ab"));
            w.WriteTensor("first", new byte[] { 1, 2, 3, 4, 5 });
            w.Commit();
        }
        var expected = new int[64 * 8];
        for (int r = 0; r < 64; r++)
        {
            for (int c = 0; c < 3; c++) expected[r * 8 + c] = r * 3 + c;
            for (int c = 0; c < 5; c++) expected[r * 8 + 3 + c] = 1000 + r * 5 + c;
        }
        using var f = SafetensorsFile.Open(path);
        var bytes = new byte[64 * 8 * 4];
        f.Read("ab", 0, bytes);
        Assert.Equal(expected, TensorFactory.Ints(bytes));
        var small = new byte[5];
        f.Read("first", 0, small);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, small);
    }

    /// <summary>A single file as an <see cref="ITensorSource"/> (the executor reads through it).</summary>
    private sealed class FileSource(SafetensorsFile file) : ITensorSource
    {
        public string Description => file.Path;
        public IReadOnlyList<TensorMeta> Tensors => file.Tensors.ToList();
        public bool TryGet(string name, out TensorMeta meta)
        {
            var found = file.ByName.TryGetValue(name, out var e);
            meta = e?.Meta!;
            return found;
        }
        public void Read(string name, long byteOffset, Span<byte> destination) => file.Read(name, byteOffset, destination);
    }
}
