using MegatronBridge.Preprocessing;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

public sealed class ImageProcessorBatchTests
{
    [Fact]
    public void BatchStacksTheImagesInOrder()
    {
        var folder = TestPaths.Fixture("qwen35-processor-tiny");
        var processor = ImageProcessor.FromFolder(folder);
        var paths = new[] { "tall_40x260.png", "gradient_123x77.png" }.Select(p => Path.Combine(folder, p)).ToArray();
        var batch = processor.ProcessBatch(paths);
        var tall = processor.Process(paths[0]);
        var gradient = processor.Process(paths[1]);
        Assert.Equal(new[] { new GridThw(1, 16, 2), new GridThw(1, 4, 8) }, batch.Grids);
        Assert.Equal(32 + 32, batch.Rows);
        Assert.Equal(tall.PixelValues, batch.PixelValues[..tall.PixelValues.Length]);
        Assert.Equal(gradient.PixelValues, batch.PixelValues[tall.PixelValues.Length..]);
    }
}
