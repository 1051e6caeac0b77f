using System.Buffers.Binary;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

public class NonFiniteTrackerTests
{
    /// <summary>bf16 values with NaN / +Inf / -Inf at seeded positions, and the counts a plain loop finds.</summary>
    private static (byte[] Bytes, long NaN, long PosInf, long NegInf) Bf16WithNonFinite(int count, int seed)
    {
        var random = new Random(seed);
        var bytes = new byte[count * 2];
        long nan = 0, pos = 0, neg = 0;
        for (int i = 0; i < count; i++)
        {
            ushort bits = (ushort)random.Next(0, 0x7F00); // finite, positive
            switch (random.Next(40))
            {
                case 0: bits = (ushort)(0x7F81 + random.Next(0x7E)); nan++; break;
                case 1: bits = 0x7F80; pos++; break;
                case 2: bits = 0xFF80; neg++; break;
                case 3: bits = (ushort)(0xFF81 + random.Next(0x7E)); nan++; break; // negative NaN
            }
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), bits);
        }
        return (bytes, nan, pos, neg);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(33)]     // shorter than most vectors, odd
    [InlineData(10_007)] // a prime: never a whole number of vectors
    public void VectorisedCount_EqualsAPlainLoop(int elements)
    {
        var (bytes, nan, pos, neg) = Bf16WithNonFinite(elements, seed: elements);
        var counts = new long[3];
        NonFiniteScan.CountSpan(DType.BF16, bytes, counts);
        Assert.Equal(new[] { nan, pos, neg }, counts);
    }

    [Fact]
    public void OverlappingAndRepeatedReads_CountEachElementOnce()
    {
        var (bytes, nan, pos, neg) = Bf16WithNonFinite(5000, seed: 7);
        var source = new MemoryTensorSource().Add("w", DType.BF16, new TensorShape(5000), bytes);
        var tracker = new NonFiniteTracker(source);
        var random = new Random(3);
        var buffer = new byte[bytes.Length];
        // Random element-aligned windows, many overlapping, then the whole tensor twice (as TP / EP ranks re-read).
        for (int i = 0; i < 200; i++)
        {
            int start = random.Next(5000), length = random.Next(1, 5000 - start + 1);
            tracker.Read("w", start * 2L, buffer.AsSpan(0, length * 2));
        }
        tracker.Read("w", 0, buffer);
        tracker.Read("w", 0, buffer);
        var found = Assert.Single(tracker.Found());
        Assert.Equal((nan, pos, neg), (found.NaN, found.PositiveInfinity, found.NegativeInfinity));
        Assert.Equal(bytes, buffer); // the tracker passes the bytes through unchanged
    }

    [Fact]
    public void PartialReads_CountOnlyWhatWasRead()
    {
        var (bytes, _, _, _) = Bf16WithNonFinite(1000, seed: 11);
        var source = new MemoryTensorSource().Add("w", DType.BF16, new TensorShape(1000), bytes);
        var tracker = new NonFiniteTracker(source);
        tracker.Read("w", 200, new byte[400]); // elements 100..299
        var expected = new long[3];
        NonFiniteScan.CountSpan(DType.BF16, bytes.AsSpan(200, 400), expected);
        long total = expected.Sum();
        Assert.True(total > 0, "the seeded data holds non-finite values in the window");
        var found = Assert.Single(tracker.Found());
        Assert.Equal(expected, new[] { found.NaN, found.PositiveInfinity, found.NegativeInfinity });
    }

    [Fact]
    public void IntervalBookkeeping_MergesAndFindsGaps()
    {
        var ranges = new List<(long, long)>();
        NonFiniteTracker.Add(ranges, 10, 20);
        NonFiniteTracker.Add(ranges, 30, 40);
        Assert.Equal(new[] { (0L, 10L), (20L, 30L), (40L, 50L) }, NonFiniteTracker.Uncounted(ranges, 0, 50));
        NonFiniteTracker.Add(ranges, 20, 30); // touches both: one range
        Assert.Equal(new[] { (10L, 40L) }, ranges);
        Assert.Empty(NonFiniteTracker.Uncounted(ranges, 12, 38));
    }

    /// <summary>
    /// A legacy import at TP 2 EP 2 reads column-split tensors once per TP rank and replicated ones once per EP rank;
    /// the counts must still equal one plain scan of the checkpoint.
    /// </summary>
    [Fact]
    public void LegacyImportWithSplitsAndReplicas_ReportsTheSameCountsAsOneScan()
    {
        using var temp = TestPaths.NewTempDir();
        string input = Path.Combine(temp.Path, "hf");
        Directory.CreateDirectory(input);
        string fixture = TestPaths.Fixture("qwen35-vl-moe-tiny");
        foreach (var file in Directory.EnumerateFiles(fixture)) File.Copy(file, Path.Combine(input, Path.GetFileName(file)));
        // Poison every 97th bf16 value of every tensor (NaN, +Inf, -Inf in turn).
        string model = Path.Combine(input, "model.safetensors");
        var bytes = File.ReadAllBytes(model);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var header = System.Text.Json.Nodes.JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))!.AsObject();
        int k = 0;
        foreach (var (name, entry) in header)
        {
            if (name == "__metadata__" || entry!["dtype"]!.GetValue<string>() != "BF16") continue;
            long begin = entry["data_offsets"]![0]!.GetValue<long>(), end = entry["data_offsets"]![1]!.GetValue<long>();
            for (long at = begin; at < end; at += 97 * 2)
            {
                ushort bits = (k++ % 3) switch { 0 => 0x7FC0, 1 => 0x7F80, _ => 0xFF80 };
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan((int)(8 + headerLength + at)), bits);
            }
        }
        File.WriteAllBytes(model, bytes);
        List<NonFiniteCount> expected;
        using (var poisoned = SafetensorsCheckpoint.Open(input)) expected = NonFiniteScan.Scan(poisoned).ToList();
        Assert.NotEmpty(expected);

        var result = CheckpointConverter.Import(new ImportRequest(input, Path.Combine(temp.Path, "out"))
        {
            Format = MegatronFormat.Torch,
            Layout = new ParallelLayout(tp: 2, ep: 2),
        });
        Assert.Equal(expected, result.NonFinite.Select(n => n.Count).ToList());
        Assert.All(result.NonFinite, n => Assert.Equal(model, n.File));
    }
}
