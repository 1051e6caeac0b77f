using System.Buffers.Binary;
using System.Text;
using MegatronBridge.Config;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// Bounded-time fuzzing of the parsers that read untrusted bytes: mutated valid inputs must parse or be refused with
/// <see cref="InvalidInputException"/>; never an index/null/overflow/cast exception, never a hang. Fixed seeds keep
/// failures reproducible; files under Corpus/ are inputs kept as regression cases and replayed every run.
/// </summary>
public class FuzzTests
{
    private static readonly int[] Seeds = FuzzHarness.LongRunSeconds is null ? new[] { 1, 2, 3 } : Enumerable.Range(100, 16).ToArray();
    private static readonly TimeSpan Budget = FuzzHarness.Budget;

    public static string CorpusFolder => Path.Combine(Path.GetDirectoryName(TestPaths.Fixture("x"))!, "..", "MegatronBridge.Tests", "Robustness", "Corpus");

    // ---- targets -------------------------------------------------------------------------------------------------

    private const long FixtureDataLength = 1_000_000;

    internal static void SafetensorsHeaderTarget(byte[] header) =>
        SafetensorsHeader.ParseHeader("fuzz.safetensors", header, FixtureDataLength);

    internal static void SafetensorsFileTarget(byte[] file) => WithTempFile(file, "fuzz.safetensors", path =>
    {
        using var st = SafetensorsFile.Open(path);
        foreach (var entry in st.Entries)
        {
            var buffer = new byte[Math.Min(entry.Meta.ByteLength, 4096)];
            st.Read(entry, 0, buffer);
        }
    });

    internal static void SafetensorsIndexTarget(byte[] file) => WithTempFile(file, "model.safetensors.index.json", path => SafetensorsIndex.Read(path));

    internal static void PickleTarget(byte[] data) => PickleReader.Load(data, "fuzz.pkl");

    internal static void DcpMetadataTarget(byte[] data) => DcpMetadataPickle.Parse(data, "fuzz/.metadata");

    internal static void TorchZipTarget(byte[] file) => WithTempFile(file, "fuzz.pt", path =>
    {
        using var handle = File.OpenHandle(path);
        var value = TorchLoad.Load(TorchZipArchive.Open(handle, path, 0, RandomAccess.GetLength(handle)));
        if (value is PyDict dict)
            foreach (var (_, v) in dict.Items)
                if (v is TorchTensorRef tensor && tensor.ByteLength < (1 << 20)) tensor.ReadAll();
    });

    /// <summary>Writes the input to a fresh temp folder, runs <paramref name="read"/> on it, and deletes the folder.</summary>
    private static void WithTempFile(byte[] bytes, string name, Action<string> read)
    {
        var folder = Path.Combine(Path.GetTempPath(), "mbfuzz-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var path = Path.Combine(folder, name);
            File.WriteAllBytes(path, bytes);
            read(path);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // ---- seeds ---------------------------------------------------------------------------------------------------

    private static byte[] HeaderOf(string safetensorsPath)
    {
        using var stream = File.OpenRead(safetensorsPath);
        var prefix = new byte[8];
        stream.ReadExactly(prefix);
        var header = new byte[BinaryPrimitives.ReadUInt64LittleEndian(prefix)];
        stream.ReadExactly(header);
        return header;
    }

    private static List<byte[]> SafetensorsHeaderSeeds() => new()
    {
        HeaderOf(Path.Combine(TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "model.safetensors")),
        Encoding.UTF8.GetBytes("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[24,26]}}"),
    };

    private static List<byte[]> SafetensorsFileSeeds()
    {
        static byte[] File(string header, int dataLength)
        {
            var json = Encoding.UTF8.GetBytes(header);
            var bytes = new byte[8 + json.Length + dataLength];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
            json.CopyTo(bytes, 8);
            for (int i = 8 + json.Length; i < bytes.Length; i++) bytes[i] = (byte)i;
            return bytes;
        }
        return new()
        {
            File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]}}", 32),
            File("{\"__metadata__\":{\"format\":\"pt\"},\"x\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[0,8]}}    ", 8),
        };
    }

    private static List<byte[]> SafetensorsIndexSeeds() => new()
    {
        Encoding.UTF8.GetBytes("{\"metadata\": {\"total_size\": 4096}, \"weight_map\": {\"a.weight\": \"model-00001-of-00002.safetensors\", \"b.weight\": \"model-00002-of-00002.safetensors\"}}"),
        Encoding.UTF8.GetBytes("{\"weight_map\": {\"x\": \"model.safetensors\"}}"),
    };

    private static List<byte[]> PickleSeeds()
    {
        var value = new PyDict()
            .Add("iteration", 1234L)
            .Add("floats", new List<object?> { 1.5, -0.0, double.NaN })
            .Add("nested", PyTuple.Of(new PyStr("text"), true, null, new byte[] { 1, 2, 3 }, new PyDict().Add("k", 5L)))
            .Add("big", System.Numerics.BigInteger.Pow(2, 80))
            .Add("inst", PyInstance.Reduce(new PyGlobal("collections", "OrderedDict")));
        var noBytes = new PyDict().Add("iteration", 7L).Add("list", new List<object?> { 1L, new PyStr("a"), PyTuple.Of(2.5, false) });
        return new()
        {
            PickleWriter.Serialize(noBytes, 2),
            PickleWriter.Serialize(value, 4),
            File.ReadAllBytes(Path.Combine(TestPaths.Golden("golden_dcp"), ".metadata")),
        };
    }

    private static List<byte[]> DcpMetadataSeeds() => new()
    {
        File.ReadAllBytes(Path.Combine(TestPaths.Golden("golden_dcp"), ".metadata")),
        File.ReadAllBytes(Path.Combine(TestPaths.Golden("golden_torch_dist"), ".metadata")),
    };

    private static List<byte[]> TorchZipSeeds()
    {
        var tensor = TorchTensorValue.FromBytes(DType.BF16, new long[] { 2, 4 }, Enumerable.Range(0, 16).Select(i => (byte)i).ToArray());
        var value = new PyDict().Add("iteration", 3L).Add("weight", tensor).Add("name", new PyStr("layer"));
        var stream = new MemoryStream();
        TorchSave.Write(stream, value, "archive");
        var plain = new MemoryStream();
        TorchSave.Write(plain, new PyDict().Add("checkpoint_version", 3.0), "common");
        return new() { stream.ToArray(), plain.ToArray() };
    }

    // ---- fuzzers -------------------------------------------------------------------------------------------------

    [Fact]
    public void SafetensorsHeaderParserRefusesOrParses() =>
        Assert.True(FuzzHarness.Run("safetensors-header", SafetensorsHeaderSeeds(), SafetensorsHeaderTarget, Seeds, Budget) > 10);

    [Fact]
    public void SafetensorsFileReaderRefusesOrReads() =>
        Assert.True(FuzzHarness.Run("safetensors-file", SafetensorsFileSeeds(), SafetensorsFileTarget, Seeds, Budget) > 10);

    [Fact]
    public void SafetensorsIndexReaderRefusesOrReads() =>
        Assert.True(FuzzHarness.Run("safetensors-index", SafetensorsIndexSeeds(), SafetensorsIndexTarget, Seeds, Budget) > 10);

    [Fact]
    public void PickleReaderRefusesOrLoads() =>
        Assert.True(FuzzHarness.Run("pickle", PickleSeeds(), PickleTarget, Seeds, Budget) > 10);

    [Fact]
    public void DcpMetadataParserRefusesOrParses() =>
        Assert.True(FuzzHarness.Run("dcp-metadata", DcpMetadataSeeds(), DcpMetadataTarget, Seeds, Budget) > 10);

    [Fact]
    public void TorchZipReaderRefusesOrLoads() =>
        Assert.True(FuzzHarness.Run("torchzip", TorchZipSeeds(), TorchZipTarget, Seeds, Budget) > 10);

    /// <summary>config.json bytes through the provider translation (numbers of the wrong kind must be refused by field name).</summary>
    internal static void ConfigTarget(byte[] config)
    {
        try
        {
            BridgeRegistry.CreateProvider(HfConfig.Parse(Encoding.UTF8.GetString(config), "fuzz/config.json"));
        }
        catch (InvalidInputException e) when (!e.Message.Contains("field '", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"refused without naming the field: {e.Message}", e);
        }
    }

    // ---- kept corpus ---------------------------------------------------------------------------------------------

    public static IEnumerable<object[]> CorpusFiles() =>
        Directory.EnumerateFiles(CorpusFolder, "*.bin").Order().Select(f => new object[] { Path.GetFileName(f) });

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void CorpusInputIsRefusedCleanly(string file)
    {
        var input = File.ReadAllBytes(Path.Combine(CorpusFolder, file));
        Action<byte[]> target = file.Split('.')[0] switch
        {
            var n when n.StartsWith("safetensors-header") => SafetensorsHeaderTarget,
            var n when n.StartsWith("safetensors-file") => SafetensorsFileTarget,
            var n when n.StartsWith("safetensors-index") => SafetensorsIndexTarget,
            var n when n.StartsWith("dcp-metadata") => DcpMetadataTarget,
            var n when n.StartsWith("pickle") => PickleTarget,
            var n when n.StartsWith("torchzip") => TorchZipTarget,
            var n when n.StartsWith("config") => ConfigTarget,
            _ => throw new InvalidOperationException($"{file}: corpus files start with their target's name"),
        };
        Assert.Null(FuzzHarness.Check(target, input));
    }
}
