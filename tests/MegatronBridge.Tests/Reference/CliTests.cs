using MegatronBridge.Cli.Commands;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Reference;

public class CliTests
{
    [Fact]
    public void Compare_ExitsZero_OnAFixture()
    {
        Assert.Equal(0, CompareCommand.Run(TestPaths.Fixture("qwen35-vl-dense-tiny"), null, 1e-3));
    }

    [Fact]
    public void Compare_ExitsOne_PastTheTolerance_AndTwo_OnAMissingModel()
    {
        Assert.Equal(1, CompareCommand.Run(TestPaths.Fixture("qwen35-text-dense-tied-tiny"), null, 0));
        using var temp = TestPaths.NewTempDir();
        Assert.Equal(2, CompareCommand.Run(temp.Path, null, 1e-3));
    }

    [Fact]
    public void Generate_PrintsTheReferenceGreedyTokens()
    {
        var folder = TestPaths.Fixture("qwen35-text-moe-tiny");
        var reference = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)).Single(c => c.Name == "text");
        var output = new StringWriter();
        int rc = GenerateCommand.Run(new GenerateRequest(folder) { InputIds = string.Join(",", reference.InputIds), MaxNewTokens = reference.GreedyTokens.Length }, output, TextWriter.Null);
        Assert.Equal(0, rc);
        Assert.Equal(string.Join(",", reference.GreedyTokens), output.ToString().Trim());
    }

    [Fact]
    public void Generate_WithPixelValues_PrintsTheReferenceImageGreedyTokens()
    {
        var folder = TestPaths.Fixture("qwen3-vl-dense-tiny");
        var referenceFile = Path.Combine(folder, ReferenceOutputs.FileName);
        var reference = ReferenceOutputs.Load(referenceFile).Single(c => c.Name == "image");
        var output = new StringWriter();
        var grid = reference.Image!.Grids.Single();
        int rc = GenerateCommand.Run(new GenerateRequest(folder)
        {
            InputIds = string.Join(",", reference.InputIds), PixelValues = referenceFile, ImageGridThw = new[] { $"{grid.T},{grid.H},{grid.W}" },
            MaxNewTokens = reference.GreedyTokens.Length,
        }, output, TextWriter.Null);
        Assert.Equal(0, rc);
        Assert.Equal(string.Join(",", reference.GreedyTokens), output.ToString().Trim());
    }

    [Fact]
    public void Generate_RejectsBadIds()
    {
        var error = new StringWriter();
        Assert.Equal(2, GenerateCommand.Run(new GenerateRequest(TestPaths.Fixture("qwen35-text-moe-tiny")) { InputIds = "5,x", MaxNewTokens = 2 }, TextWriter.Null, error));
        Assert.Contains("'x' is not a non-negative integer", error.ToString());
    }
}
