using System.Buffers.Binary;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.Safetensors;

/// <summary>Damaged copies of a real fixture file: each must fail with a message naming the file (and tensor).</summary>
public sealed class SafetensorsMalformedFileTests : IDisposable
{
    private const string Embed = "model.embed_tokens.weight";
    private const string Norm = "model.layers.0.input_layernorm.weight";
    private const string NormEntry = "\"model.layers.0.input_layernorm.weight\":{\"dtype\":\"BF16\",\"shape\":[64],\"data_offsets\":[131072,131200]}";

    private readonly TempDir _tmp = TestPaths.NewTempDir();
    private readonly string _original = Path.Combine(TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "model.safetensors");

    public void Dispose() => _tmp.Dispose();

    private string Damaged => _tmp.Sub("damaged.safetensors");

    private InvalidInputException OpenFails(params string[] expectedInMessage)
    {
        var e = Assert.Throws<InvalidInputException>(() => SafetensorsFile.Open(Damaged).Dispose());
        Assert.Contains(Damaged, e.Message);
        foreach (var s in expectedInMessage) Assert.Contains(s, e.Message);
        return e;
    }

    private void EditHeader(Func<string, string> edit) => RawSafetensors.CopyWithHeader(_original, Damaged, edit);

    [Fact]
    public void TheUndamagedFixtureHasTheEntriesTheseTestsEdit()
    {
        var (header, _) = RawSafetensors.Split(_original);
        Assert.Contains(NormEntry, header);
        Assert.StartsWith("{\"__metadata__\":{\"format\":\"pt\"},\"model.embed_tokens.weight\":{\"dtype\":\"BF16\",\"shape\":[1024,64],\"data_offsets\":[0,131072]}", header);
        using var f = SafetensorsFile.Open(_original);
        Assert.Equal(SafetensorsMetadataPosition.First, f.MetadataPosition);
    }

    [Fact]
    public void TruncatedFile()
    {
        var bytes = File.ReadAllBytes(_original);
        File.WriteAllBytes(Damaged, bytes[..^100]);
        OpenFails("truncated");
    }

    [Fact]
    public void FileShorterThanTheLengthField()
    {
        File.WriteAllBytes(Damaged, new byte[5]);
        OpenFails("not a safetensors file");
    }

    [Fact]
    public void HeaderLengthPastEndOfFile()
    {
        var bytes = File.ReadAllBytes(_original);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length);
        File.WriteAllBytes(Damaged, bytes);
        OpenFails("runs past the end of the file");
    }

    [Fact]
    public void HeaderLengthOverTheLimit()
    {
        var bytes = File.ReadAllBytes(_original);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 200_000_000UL);
        File.WriteAllBytes(Damaged, bytes);
        OpenFails("exceeds the 100 MB limit");
    }

    [Fact]
    public void InvalidJson()
    {
        EditHeader(h => h.Replace("\"dtype\":\"BF16\",\"shape\":[64]", "\"dtype\":BF16,\"shape\":[64]"));
        OpenFails("not valid JSON");
    }

    [Fact]
    public void HeaderThatIsNotUtf8()
    {
        var (header, data) = RawSafetensors.Split(_original);
        var bytes = System.Text.Encoding.UTF8.GetBytes(header);
        int at = header.IndexOf(Norm, StringComparison.Ordinal) + 6;
        bytes[at] = 0xFF;
        var file = new byte[8 + bytes.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)bytes.Length);
        bytes.CopyTo(file, 8);
        data.CopyTo(file, 8 + bytes.Length);
        File.WriteAllBytes(Damaged, file);
        OpenFails("not valid UTF-8");
    }

    [Fact]
    public void HeaderThatIsNotAnObject()
    {
        RawSafetensors.Write(Damaged, "[1, 2]", ReadOnlySpan<byte>.Empty);
        OpenFails("not a JSON object");
    }

    [Fact]
    public void OverlappingOffsets()
    {
        EditHeader(h => h.Replace("\"data_offsets\":[131072,131200]", "\"data_offsets\":[131000,131128]"));
        OpenFails($"'{Norm}'", "overlaps");
    }

    [Fact]
    public void GapBetweenTensors()
    {
        EditHeader(h => h.Replace(NormEntry + ",", ""));
        OpenFails("gap", "starts at 131200, previous ends at 131072");
    }

    [Fact]
    public void TrailingBytesAfterTheLastTensor()
    {
        var bytes = File.ReadAllBytes(_original);
        File.WriteAllBytes(Damaged, [.. bytes, .. new byte[16]]);
        OpenFails("trailing bytes");
    }

    [Fact]
    public void DTypeTimesShapeDiffersFromTheByteLength()
    {
        EditHeader(h => h.Replace("\"shape\":[64],\"data_offsets\":[131072,131200]", "\"shape\":[65],\"data_offsets\":[131072,131200]"));
        OpenFails($"'{Norm}'", "needs 130 bytes but data_offsets span 128");
    }

    [Fact]
    public void DuplicateTensorNames()
    {
        // A second key with the same name: System.Text.Json would silently keep one of them.
        EditHeader(h => h.Replace("{\"__metadata__\":{\"format\":\"pt\"},", "{\"__metadata__\":{\"format\":\"pt\"}," + NormEntry + ","));
        OpenFails($"'{Norm}'", "twice");
    }

    [Fact]
    public void DuplicateMetadata()
    {
        EditHeader(h => h.Replace("{\"__metadata__\":{\"format\":\"pt\"},", "{\"__metadata__\":{\"format\":\"pt\"},\"__metadata__\":{},"));
        OpenFails("__metadata__ twice");
    }

    [Fact]
    public void NonStringMetadataValue()
    {
        EditHeader(h => h.Replace("{\"format\":\"pt\"}", "{\"format\":1}"));
        OpenFails("__metadata__ value 'format' is not a string");
    }

    [Theory]
    [InlineData("U16")]
    [InlineData("F8_E8M0")]
    [InlineData("bfloat16")]
    public void UnsupportedDType(string dtype)
    {
        EditHeader(h => h.Replace(NormEntry, NormEntry.Replace("\"BF16\"", $"\"{dtype}\"")));
        OpenFails($"'{Norm}'", $"unsupported dtype '{dtype}'");
    }

    [Theory]
    [InlineData("\"data_offsets\":[\"131072\",131200]")]
    [InlineData("\"data_offsets\":[131072]")]
    [InlineData("\"data_offsets\":{\"a\":1}")]
    public void MalformedDataOffsets(string replacement)
    {
        EditHeader(h => h.Replace("\"data_offsets\":[131072,131200]", replacement));
        OpenFails($"'{Norm}'", "data_offsets must be [begin, end]");
    }

    [Fact]
    public void DataOffsetsEndBeforeBegin()
    {
        EditHeader(h => h.Replace("\"data_offsets\":[131072,131200]", "\"data_offsets\":[131200,131072]"));
        OpenFails($"'{Norm}'", "invalid data_offsets");
    }

    [Theory]
    [InlineData("[-64]")]
    [InlineData("[64.5]")]
    [InlineData("[\"64\"]")]
    public void InvalidShapeEntries(string shape)
    {
        EditHeader(h => h.Replace("\"shape\":[64],\"data_offsets\":[131072,131200]", $"\"shape\":{shape},\"data_offsets\":[131072,131200]"));
        OpenFails($"'{Norm}'", "invalid shape entry");
    }

    [Fact]
    public void MissingDType()
    {
        EditHeader(h => h.Replace(NormEntry, NormEntry.Replace("\"dtype\":\"BF16\",", "")));
        OpenFails($"'{Norm}'", "dtype");
    }

    [Fact]
    public void HugeShapeDoesNotOverflowSilently()
    {
        EditHeader(h => h.Replace("\"shape\":[64],\"data_offsets\":[131072,131200]", "\"shape\":[4611686018427387904,4],\"data_offsets\":[131072,131200]"));
        OpenFails($"'{Norm}'", "too large");
    }

    [Fact]
    public void EveryDTypeRoundTrips()
    {
        var path = _tmp.Sub("all.safetensors");
        var metas = Enum.GetValues<DType>().Select(d => new TensorMeta("t_" + d.SafetensorsName(), d, new TensorShape(2, 3))).ToList();
        using (var w = SafetensorsWriter.Create(path, metas))
        {
            foreach (var m in metas) w.WriteTensor(m.Name, Enumerable.Range(0, (int)m.ByteLength).Select(i => (byte)(i * 7 + (int)m.DType)).ToArray());
            w.Commit();
        }
        var (header, _) = RawSafetensors.Split(path);
        foreach (var name in new[] { "BF16", "F16", "F32", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" })
            Assert.Contains($"\"dtype\":\"{name}\"", header);
        using var f = SafetensorsFile.Open(path);
        foreach (var m in metas)
        {
            Assert.Equal(m, f.ByName[m.Name].Meta);
            var buffer = new byte[m.ByteLength];
            f.Read(m.Name, 0, buffer);
            Assert.Equal(Enumerable.Range(0, (int)m.ByteLength).Select(i => (byte)(i * 7 + (int)m.DType)), buffer);
        }
    }

    [Fact]
    public void AnySingleByteDamageToTheHeaderGivesInvalidDataOrAValidFile()
    {
        // Deterministic pseudo-random damage over a small real-format file: never an index/null/other exception.
        var clean = _tmp.Sub("clean.safetensors");
        var metas = new[]
        {
            new TensorMeta("a.weight", DType.BF16, new TensorShape(2, 3)),
            new TensorMeta("b", DType.I64, new TensorShape(2)),
            new TensorMeta("c.bias", DType.F32, new TensorShape(0)),
            new TensorMeta("d", DType.Bool, new TensorShape(3)),
        };
        using (var w = SafetensorsWriter.Create(clean, metas))
        {
            foreach (var m in metas) w.WriteTensor(m.Name, new byte[m.ByteLength]);
            w.Commit();
        }
        var bytes = File.ReadAllBytes(clean);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var random = new Random(12345);
        int failures = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            var damaged = (byte[])bytes.Clone();
            int at = random.Next(0, headerEnd);
            damaged[at] = (byte)random.Next(256);
            File.WriteAllBytes(Damaged, damaged);
            try
            {
                SafetensorsFile.Open(Damaged).Dispose();
            }
            catch (InvalidInputException e)
            {
                Assert.Contains(Damaged, e.Message);
                failures++;
            }
        }
        Assert.True(failures > 200, $"only {failures} of 400 damaged headers were rejected");
    }
}
