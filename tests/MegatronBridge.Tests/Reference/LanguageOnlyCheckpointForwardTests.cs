using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Robustness;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Reference;

/// <summary>
/// <c>compare</c> and <c>generate</c> against a checkpoint written by <c>import --language-only</c> of a VL model: the
/// text cases run, a reference file's image cases are skipped and counted, images given by the user are refused as
/// bad input naming the checkpoint.
/// </summary>
public class LanguageOnlyCheckpointForwardTests
{
    private const string Fixture = "qwen35-vl-dense-tiny";

    private static string ImportLanguageOnly(TempDir tmp)
    {
        var megatron = tmp.Sub("lm");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", TestPaths.Fixture(Fixture), "--megatron-path", megatron, "--language-only", "--quiet");
        Assert.True(code == 0, error);
        return megatron;
    }

    [Fact]
    public void CompareRunsTheTextCasesAndSaysTheImageCasesWereSkipped()
    {
        using var tmp = TestPaths.NewTempDir();
        var megatron = ImportLanguageOnly(tmp);
        var hf = TestPaths.Fixture(Fixture);
        var cases = ReferenceOutputs.Load(Path.Combine(hf, ReferenceOutputs.FileName));
        int images = cases.Count(c => c.Image is not null);
        Assert.True(images > 0 && images < cases.Count);
        var before = TreeSnapshot.Take(tmp.Path);

        // The fixture's GDN norms part HF and Megatron by about 1e-2 (bf16(w - 1)): loose tolerances make the compared
        // cases pass, so the exit code shows that the skipped cases count neither way.
        var (code, output, error) = CliRunner.Run("compare", "--hf-model", hf, "--megatron-path", megatron, "--tolerance", "0.1", "--layout-tolerance", "0.1");
        Assert.True(code == 0, $"{code}: {error}\n{output}");
        Assert.Contains($"skipped {images} image case(s): the Megatron checkpoint is language-only (no vision encoder)", output);
        foreach (var c in cases)
        {
            if (c.Image is null) Assert.Contains($"HF vs Megatron, case {c.Name}, layer by layer", output);
            else Assert.DoesNotContain($"case {c.Name},", output);
        }
        Assert.Contains("PASS", output);

        // The default layout tolerance fails on the compared text case: exit 1, not an internal error.
        (code, output, error) = CliRunner.Run("compare", "--hf-model", hf, "--megatron-path", megatron);
        Assert.Equal(1, code);
        Assert.DoesNotContain("internal error", error);
        Assert.Contains($"skipped {images} image case(s)", output);
        before.AssertUnchanged();
    }

    [Fact]
    public void CompareWithAnImageAgainstALanguageOnlyCheckpointIsAnInputError()
    {
        using var tmp = TestPaths.NewTempDir();
        var megatron = ImportLanguageOnly(tmp);
        var processor = TestPaths.Fixture("qwen35-processor-tiny");
        var (code, _, error) = CliRunner.Run("compare", "--hf-model", TestPaths.Fixture(Fixture), "--megatron-path", megatron,
            "--input-ids", "1,2,3", "--image", Path.Combine(processor, "gradient_123x77.png"), "--processor", processor);
        Assert.Equal(2, code);
        Assert.Contains($"compare: {megatron}: a language-only checkpoint", error);
        Assert.Contains("no vision encoder", error);
        Assert.DoesNotContain("internal error", error);
    }

    [Fact]
    public void CompareOfAReferenceFileWithOnlyImageCasesIsAnInputError()
    {
        using var tmp = TestPaths.NewTempDir();
        var megatron = ImportLanguageOnly(tmp);
        var hf = TestPaths.Fixture(Fixture);
        var reference = tmp.Sub("image_only.safetensors");
        using (var file = SafetensorsFile.Open(Path.Combine(hf, ReferenceOutputs.FileName)))
        {
            var kept = file.Tensors.Where(t => t.Name.StartsWith("image_", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(kept);
            using var writer = SafetensorsWriter.Create(reference, kept);
            foreach (var t in kept)
            {
                var bytes = new byte[t.ByteLength];
                file.Read(t.Name, 0, bytes);
                writer.WriteTensor(t.Name, bytes);
            }
            writer.Commit();
        }
        var (code, _, error) = CliRunner.Run("compare", "--hf-model", hf, "--megatron-path", megatron, "--reference", reference);
        Assert.Equal(2, code);
        Assert.Contains($"{reference}: every case has an image, and {megatron} is a language-only checkpoint", error);
    }

    [Fact]
    public void GenerateDecodesTextAsTheHfModelAndRefusesImagesNamingTheCheckpoint()
    {
        using var tmp = TestPaths.NewTempDir();
        var megatron = ImportLanguageOnly(tmp);
        var hf = TestPaths.Fixture(Fixture);
        var text = ReferenceOutputs.Load(Path.Combine(hf, ReferenceOutputs.FileName)).Single(c => c.Image is null);
        string ids = string.Join(",", text.InputIds);
        var fromHf = CliRunner.Run("generate", "--model", hf, "--input-ids", ids, "--max-new-tokens", "3");
        var fromMegatron = CliRunner.Run("generate", "--model", megatron, "--hf-model", hf, "--input-ids", ids, "--max-new-tokens", "3");
        Assert.True(fromMegatron.ExitCode == 0, fromMegatron.Error);
        Assert.Equal(string.Join(",", text.GreedyTokens.Take(3)), fromMegatron.Output.Trim());
        Assert.Equal(fromHf.Output, fromMegatron.Output);

        var processor = TestPaths.Fixture("qwen35-processor-tiny");
        var (code, _, error) = CliRunner.Run("generate", "--model", megatron, "--hf-model", hf, "--processor", processor,
            "--input-ids", "1,2,3", "--image", Path.Combine(processor, "gradient_123x77.png"), "--max-new-tokens", "1");
        Assert.Equal(2, code);
        Assert.Contains($"generate: {megatron}: a language-only checkpoint (import --language-only) of the VL model in {Path.Combine(hf, "config.json")}", error);
        Assert.DoesNotContain("internal error", error);
    }
}
