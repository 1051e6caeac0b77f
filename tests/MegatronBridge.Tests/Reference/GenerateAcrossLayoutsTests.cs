using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MegatronBridge.Tests.Reference;

/// <summary>
/// <c>generate</c> and <c>compare --megatron-path</c> through the command line, on the HF folder, the imported
/// torch_dist checkpoint and the exported HF folder.
/// </summary>
public class GenerateAcrossLayoutsTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> VlFixtures() => new[]
    {
        "qwen35-vl-dense-tiny", "qwen35-vl-moe-tiny", "qwen35-vl-moe-mixed-tiny", "qwen36-vl-moe-packed-tiny", "qwen3-vl-dense-tiny", "qwen3-vl-moe-tiny",
    }.Select(f => new object[] { f });

    private static string Processor => TestPaths.Fixture("qwen35-processor-tiny");

    private (int ExitCode, string Output, string Error) Cli(params string[] args)
    {
        var result = CliRunner.Run(args);
        output.WriteLine($"megatron-bridge {string.Join(' ', args)} -> {result.ExitCode}{Environment.NewLine}{result.Output}{result.Error}");
        return result;
    }

    private string GenerateFromReference(string model, string hfModel, ReferenceCase c)
    {
        var grid = c.Image!.Grids.Single();
        var (code, stdout, stderr) = Cli("generate", "--model", model, "--hf-model", hfModel,
            "--input-ids", string.Join(",", c.InputIds),
            "--pixel-values", Path.Combine(hfModel, ReferenceOutputs.FileName), "--image-grid-thw", $"{grid.T},{grid.H},{grid.W}",
            "--max-new-tokens", c.GreedyTokens.Length.ToString());
        Assert.True(code == 0, stderr);
        return stdout.Trim();
    }

    [Theory]
    [MemberData(nameof(VlFixtures))]
    public void GenerateReproducesImageGreedyTokens_FromHfImportedAndExported(string fixture)
    {
        var folder = TestPaths.Fixture(fixture);
        var c = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)).Single(x => x.Name == "image");
        string expected = string.Join(",", c.GreedyTokens);
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));
        var exported = CheckpointConverter.Export(new ExportRequest(folder, imported.MegatronPath, tmp.Sub("hf")));

        Assert.Equal(expected, GenerateFromReference(folder, folder, c));
        Assert.Equal(expected, GenerateFromReference(imported.MegatronPath, folder, c));
        Assert.Equal(expected, GenerateFromReference(exported.HfPath, folder, c));
    }

    [Fact]
    public void LegacyTp2Pp2Ep2Checkpoint_GeneratesTheImageGreedyTokens_AndComparesClean()
    {
        var folder = TestPaths.Fixture("qwen3-vl-moe-tiny");
        var c = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)).Single(x => x.Name == "image");
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("legacy"))
        {
            Format = MegatronFormat.Torch, Layout = new MegatronBridge.Conversion.ParallelLayout(tp: 2, pp: 2, ep: 2),
        });
        Assert.Equal(string.Join(",", c.GreedyTokens), GenerateFromReference(imported.MegatronPath, folder, c));
        var (code, stdout, _) = Cli("compare", "--hf-model", folder, "--megatron-path", imported.MegatronPath);
        Assert.Equal(0, code);
        Assert.Contains("HF vs Megatron", stdout);
    }

    [Theory]
    [InlineData("qwen35-vl-dense-tiny", "gradient_123x77.png")]
    [InlineData("qwen3-vl-moe-tiny", "tall_40x260.png")]
    public void RealImageAndPrompt_GiveTheSameTokens_FromHfAndImported(string fixture, string image)
    {
        var folder = TestPaths.Fixture(fixture);
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));
        string imagePath = Path.Combine(Processor, image);

        string[] Args(string model) => new[]
        {
            "generate", "--model", model, "--hf-model", folder, "--processor", Processor,
            "--prompt", "Describe this image.", "--image", imagePath, "--max-new-tokens", "6",
        };
        var hf = Cli(Args(folder));
        var megatron = Cli(Args(imported.MegatronPath));
        Assert.True(hf.ExitCode == 0, hf.Error);
        Assert.True(megatron.ExitCode == 0, megatron.Error);
        var lines = hf.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(6, lines[0].Split(',').Length);
        Assert.StartsWith("text: ", lines[1]);
        Assert.Equal(hf.Output, megatron.Output);

        // The same through the library: the prompt holds the tokenizer's ids, one vision start, the image's merged
        // patch count of image tokens and one vision end, in front of the text.
        var result = ReferenceGenerator.Generate(new GenerateRequest(folder)
        {
            Processor = Processor, Prompt = "Describe this image.", Images = new[] { imagePath }, MaxNewTokens = 6,
        });
        var processed = MegatronBridge.Preprocessing.ImageProcessor.FromFolder(Processor).Process(imagePath);
        int imageTokens = processed.Grid.NumPatches / 4;
        var text = MegatronBridge.Preprocessing.QwenTokenizer.FromFolder(Processor).Encode("Describe this image.");
        var expectedPrompt = new[] { 1002 }.Concat(Enumerable.Repeat(1000, imageTokens)).Concat(new[] { 1003 }).Concat(text).ToArray();
        Assert.Equal(expectedPrompt, result.PromptIds);
        Assert.Equal(lines[0], string.Join(",", result.Generated));
    }

    [Fact]
    public void TwoImages_GiveTheSameTokens_FromHfAndImported()
    {
        var folder = TestPaths.Fixture("qwen3-vl-dense-tiny");
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));
        GenerateResult Run(string model) => ReferenceGenerator.Generate(
            new GenerateRequest(model)
            {
                HfModel = folder, Processor = Processor, Prompt = "Describe this image.", MaxNewTokens = 4,
                Images = new[] { Path.Combine(Processor, "noise_300x200.png"), Path.Combine(Processor, "tall_40x260.png") },
            });
        var hf = Run(folder);
        var megatron = Run(imported.MegatronPath);
        Assert.Equal(2, hf.PromptIds.Count(id => id == 1002));
        Assert.Equal(2, hf.PromptIds.Count(id => id == 1003));
        Assert.Equal(hf.PromptIds, megatron.PromptIds);
        Assert.Equal(hf.Generated, megatron.Generated);
    }

    [Fact]
    public void TextPrompt_IsTokenized_AndTheAnswerDecoded()
    {
        var folder = TestPaths.Fixture("qwen35-text-moe-tiny");
        var (code, stdout, stderr) = Cli("generate", "--model", folder, "--processor", Processor, "--prompt", "The quick brown fox", "--max-new-tokens", "5");
        Assert.True(code == 0, stderr);

        var tokenizer = MegatronBridge.Preprocessing.QwenTokenizer.FromFolder(Processor);
        using var model = ReferenceModel.LoadHf(folder);
        var expected = Greedy.Generate(model, tokenizer.Encode("The quick brown fox"), 5);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(string.Join(",", expected), lines[0]);
        Assert.Equal("text: " + tokenizer.Decode(expected.Where(id => id < tokenizer.VocabSize)), lines[1]);
    }

    [Fact]
    public void GenerateFromAMegatronCheckpoint_NeedsHfModel()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen35-text-dense-tied-tiny"), tmp.Sub("megatron")));
        var (code, _, error) = Cli("generate", "--model", imported.MegatronPath, "--input-ids", "1,2,3");
        Assert.Equal(2, code);
        Assert.Contains("give --hf-model", error);
    }

    [Fact]
    public void CheckpointOfAnotherModel_IsAnErrorNamingTheTensor()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen3-vl-dense-tiny"), tmp.Sub("megatron")));
        var (code, _, error) = Cli("compare", "--hf-model", TestPaths.Fixture("qwen35-vl-dense-tiny"), "--megatron-path", imported.MegatronPath);
        Assert.Equal(2, code);
        Assert.StartsWith("compare: ", error);
        Assert.Contains("language_model.decoder.layers.", error);
    }

    [Fact]
    public void PromptAndIdsTogether_AndImagesForATextModel_AreRefused()
    {
        var folder = TestPaths.Fixture("qwen35-text-moe-tiny");
        var both = Cli("generate", "--model", folder, "--processor", Processor, "--prompt", "hi", "--input-ids", "1,2");
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("not both", both.Error);
        var image = Cli("generate", "--model", folder, "--input-ids", "1,2", "--image", Path.Combine(Processor, "tall_40x260.png"));
        Assert.Equal(2, image.ExitCode);
        Assert.Contains("no vision_config", image.Error);
    }

    [Fact]
    public void PromptWithoutTokenizer_IsRefused()
    {
        var folder = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        var (code, _, error) = Cli("generate", "--model", folder, "--prompt", "hello");
        Assert.Equal(2, code);
        Assert.Contains("tokenizer.json", error);
    }

    [Fact]
    public void CompareWithMegatronPath_PrintsAllThreeComparisons_AndPasses()
    {
        var folder = TestPaths.Fixture("qwen3-vl-dense-tiny");
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));
        var (code, stdout, _) = Cli("compare", "--hf-model", folder, "--megatron-path", imported.MegatronPath);
        Assert.Equal(0, code);
        Assert.Contains("HF vs reference", stdout);
        Assert.Contains("Megatron vs reference", stdout);
        Assert.Contains("HF vs Megatron", stdout);
        Assert.Contains("PASS", stdout);
    }

    [Fact]
    public void CompareWithoutReference_ComparesHfWithMegatronOnGivenIds()
    {
        var source = TestPaths.Fixture("qwen3-vl-moe-tiny");
        using var tmp = TestPaths.NewTempDir();
        // An HF folder without reference outputs: config and weights only.
        var folder = tmp.Sub("hf");
        Directory.CreateDirectory(folder);
        foreach (var f in new[] { "config.json", "model.safetensors" }) File.Copy(Path.Combine(source, f), Path.Combine(folder, f));
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));

        var (code, stdout, _) = Cli("compare", "--hf-model", folder, "--megatron-path", imported.MegatronPath, "--input-ids", "5,17,99,3");
        Assert.Equal(0, code);
        Assert.Contains("HF vs Megatron", stdout);
        Assert.DoesNotContain("vs reference", stdout);

        var missing = Cli("compare", "--hf-model", folder, "--megatron-path", imported.MegatronPath);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--input-ids", missing.Error);
    }

    [Fact]
    public void CompareWithMegatronPath_FailsWhenTheCheckpointDiffers()
    {
        // The Qwen3.5 fixtures' random GDN norm weights do not survive bf16(w - 1): the imported model really differs.
        var folder = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));
        var (code, stdout, _) = Cli("compare", "--hf-model", folder, "--megatron-path", imported.MegatronPath, "--tolerance", "1");
        Assert.Equal(1, code);
        Assert.Contains("FAIL", stdout);
        Assert.Contains("bf16(w - 1)", stdout);
    }
}
