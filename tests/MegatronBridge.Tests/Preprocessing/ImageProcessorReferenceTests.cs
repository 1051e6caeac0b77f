using System.Runtime.InteropServices;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Preprocessing;
using MegatronBridge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MegatronBridge.Tests.Preprocessing;

/// <summary>
/// The processor against transformers 5.17's own output for three PNGs of awkward sizes
/// (tests/fixtures/qwen35-processor-tiny/reference_pixel_values.safetensors).
/// </summary>
public sealed class ImageProcessorReferenceTests
{
    private const double MeanAbsTolerance = 0.02;
    private const double MaxAbsTolerance = 0.15;
    private static readonly string Folder = TestPaths.Fixture("qwen35-processor-tiny");
    private readonly ITestOutputHelper _output;

    public ImageProcessorReferenceTests(ITestOutputHelper output) => _output = output;

    public static IEnumerable<object[]> Images() => new[]
    {
        new object[] { "gradient_123x77.png" },
        new object[] { "noise_300x200.png" },
        new object[] { "tall_40x260.png" },
    };

    [Theory]
    [MemberData(nameof(Images))]
    public void GridMatchesTheReference(string image)
    {
        var processed = ImageProcessor.FromFolder(Folder).Process(Path.Combine(Folder, image));
        var expected = ReadLongs(image + ".image_grid_thw");
        Assert.Equal(new long[] { processed.Grid.T, processed.Grid.H, processed.Grid.W }, expected);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void PixelValuesEqualTheReferenceBitForBit(string image)
    {
        // The default arithmetic reproduces torch's uint8 antialias resize exactly, so every float is identical;
        // this is stricter than the 0.02 mean / 0.15 max acceptance bound, which is checked first for a clearer failure.
        var processed = ImageProcessor.FromFolder(Folder).Process(Path.Combine(Folder, image));
        var (expected, shape) = ReadFloats(image + ".pixel_values");
        Assert.Equal(new long[] { processed.Rows, processed.RowLength }, shape);

        var (mean, max, exact) = Compare(processed.PixelValues, expected);
        _output.WriteLine($"{image}: mean abs {mean:E3}, max abs {max:E3}, {exact:P3} of values equal");
        Assert.True(mean <= MeanAbsTolerance, $"{image}: mean abs difference {mean} exceeds {MeanAbsTolerance}");
        Assert.True(max <= MaxAbsTolerance, $"{image}: max abs difference {max} exceeds {MaxAbsTolerance}");
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(processed.PixelValues[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                Assert.Fail($"{image}: pixel_values[{i / processed.RowLength}, {i % processed.RowLength}] = {processed.PixelValues[i]}, reference {expected[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void PillowArithmeticStaysWithinOneLevelPerPassOfTheReference(string image)
    {
        // Pillow's 22-bit weights round a few values the other way: at most one 8-bit level per pass, which after
        // normalisation by std 0.5 is 2/255 per pass.
        var processed = ImageProcessor.FromFolder(Folder, ResampleArithmetic.Pillow).Process(Path.Combine(Folder, image));
        var (expected, _) = ReadFloats(image + ".pixel_values");
        var (mean, max, exact) = Compare(processed.PixelValues, expected);
        _output.WriteLine($"{image} (Pillow arithmetic): mean abs {mean:E3}, max abs {max:E3}, {exact:P3} of values equal");
        Assert.True(mean <= 1e-3, $"{image}: mean abs difference {mean}");
        Assert.True(max <= 2 * 2.0 / 255 + 1e-6, $"{image}: max abs difference {max}");
    }

    internal static (double Mean, double Max, double ExactFraction) Compare(float[] actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double sum = 0, max = 0;
        long exact = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = Math.Abs((double)actual[i] - expected[i]);
            sum += d;
            max = Math.Max(max, d);
            if (d <= 1e-6) exact++;
        }
        return (sum / actual.Length, max, (double)exact / actual.Length);
    }

    private static long[] ReadLongs(string name)
    {
        using var file = SafetensorsFile.Open(Path.Combine(Folder, "reference_pixel_values.safetensors"));
        var entry = file.ByName[name];
        var bytes = new byte[entry.Meta.ByteLength];
        file.Read(entry, 0, bytes);
        return MemoryMarshal.Cast<byte, long>(bytes).ToArray();
    }

    private static (float[] Values, long[] Shape) ReadFloats(string name)
    {
        using var file = SafetensorsFile.Open(Path.Combine(Folder, "reference_pixel_values.safetensors"));
        var entry = file.ByName[name];
        var bytes = new byte[entry.Meta.ByteLength];
        file.Read(entry, 0, bytes);
        return (MemoryMarshal.Cast<byte, float>(bytes).ToArray(), entry.Meta.Shape.ToArray());
    }
}
