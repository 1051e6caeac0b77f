using System.Globalization;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>
/// The compare job called without the CLI: its result is what <c>compare</c> prints. Expected values come from the
/// fixtures (transformers' reference outputs, the fixture's layer types) and from a run of the command itself.
/// </summary>
public class ReferenceComparerTests
{
    private static string E3(double value) => value.ToString("E3", CultureInfo.InvariantCulture);

    [Fact]
    public void OnAFixture_EachReferenceCaseIsOneRowWithinTolerance_AsTheCommandPrints()
    {
        var folder = TestPaths.Fixture("qwen3-vl-dense-tiny");
        var cases = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName));

        var result = ReferenceComparer.Compare(new CompareRequest(folder));

        Assert.Equal(cases.Select(c => c.Name), result.Rows.Select(r => r.Result.Name));
        Assert.All(result.Rows, r => Assert.Equal("HF vs reference", r.What));
        Assert.All(result.Rows, r => Assert.True(r.Result.Logits.MaxAbs <= 1e-3, $"{r.Result.Name}: {r.Result.Logits.MaxAbs:E3}"));
        Assert.Equal(cases.Select(c => c.GreedyTokens), result.Rows.Select(r => r.Result.ActualGreedy));
        Assert.Contains(result.Rows, r => r.Result.ImageEmbeds is not null);
        Assert.Empty(result.Layerwise);
        Assert.True(result.Passes);
        Assert.False(result.GatedDeltaNetNormMayExplain);

        var run = CliRunner.Run("compare", "--hf-model", folder);
        Assert.Equal(0, run.ExitCode);
        foreach (var row in result.Rows)
        {
            var line = run.Output.Split('\n').Single(l => l.Contains($" {row.Result.Name} ") && l.Contains(row.What));
            Assert.Contains(E3(row.Result.Logits.MaxAbs), line);
            Assert.Contains(E3(row.Result.Logits.MeanAbs), line);
            Assert.Contains($"match ({row.Result.ExpectedGreedy.Length})", line);
        }
        Assert.EndsWith("PASS", run.Output.TrimEnd());
    }

    [Fact]
    public void HfVsMegatron_OnPromptIds_FindsTheGdnNormDivergence_AsTheCommandPrints()
    {
        // The fixture's GDN output norms are random, far from 1; the Megatron checkpoint stores them as bf16(w - 1), so
        // the two forwards part at the first GDN mixer: layer 0, a linear_attention layer in the fixture's layer_types.
        var folder = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));

        var result = ReferenceComparer.Compare(new CompareRequest(folder) { MegatronPath = imported.MegatronPath, InputIds = "5,17,99,3" });

        var row = Assert.Single(result.Rows);
        Assert.Equal("HF vs Megatron", row.What);
        Assert.Equal("input", row.Result.Name);
        Assert.Equal(8, row.Result.ExpectedGreedy.Length);
        var layerwise = Assert.Single(result.Layerwise);
        Assert.Equal("input", layerwise.Case);
        Assert.Equal("decoder layer 0, GDN mixer", layerwise.FirstDivergence?.Where);
        Assert.False(result.Passes);
        Assert.True(result.GatedDeltaNetNormMayExplain);

        var run = CliRunner.Run("compare", "--hf-model", folder, "--megatron-path", imported.MegatronPath, "--input-ids", "5,17,99,3");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"HF vs Megatron, case input, layer by layer: first divergence past 1E-05: decoder layer 0, GDN mixer (max |Δ| {E3(layerwise.FirstDivergence!.Difference.MaxAbs)}", run.Output);
        Assert.Contains(E3(row.Result.Logits.MaxAbs), run.Output);
        Assert.Contains("FAIL", run.Output);
        Assert.Contains("note: the Megatron checkpoint stores the GDN output norm as bf16(w - 1)", run.Output);
    }

    [Fact]
    public void BadInput_IsRefusedBeforeAnyForward_WithTheOptionsMessage()
    {
        var folder = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        var e = Assert.Throws<InvalidInputException>(() => ReferenceComparer.Compare(new CompareRequest(folder) { InputIds = "1,2" }));
        Assert.Contains("give --megatron-path too", e.Message);
        using var tmp = TestPaths.NewTempDir();
        var missing = Assert.Throws<FileNotFoundException>(() => ReferenceComparer.Compare(new CompareRequest(tmp.Path)));
        Assert.Contains(Path.Combine(tmp.Path, ReferenceOutputs.FileName), missing.Message);
    }
}
