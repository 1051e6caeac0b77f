using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Reference;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Reference;

/// <summary>
/// A Qwen3.5 config whose interleaved mrope_section does not cover the rotary frequencies: [2, 1, 1] over 6 pairs.
/// transformers' apply_interleaved_mrope overwrites T's frequencies with H's at indices 1, 4, 7, ... below
/// 3 x section[1] and with W's at 2, 5, 8, ... below 3 x section[2]; with [2, 1, 1] that is H at 1, W at 2, T at 0, 3, 4, 5.
/// </summary>
public class OddMropeSectionTests
{
    /// <summary>The dense VL fixture with partial_rotary_factor 0.375: head_dim 32 gives 12 rotary dims, 6 pairs (same weights).</summary>
    private static string OddFixture(TempDir tmp)
    {
        var dir = tmp.Sub("odd-hf");
        Directory.CreateDirectory(dir);
        var source = TestPaths.Fixture("qwen35-vl-dense-tiny");
        File.Copy(Path.Combine(source, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        var text = config["text_config"]!.AsObject();
        text["partial_rotary_factor"] = 0.375;
        text["rope_parameters"]!["partial_rotary_factor"] = 0.375;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return dir;
    }

    [Fact]
    public void RopeAnglesFollowTheAxisOfEachIndex()
    {
        using var tmp = TestPaths.NewTempDir();
        var config = ReferenceConfig.FromHf(HfConfig.LoadFromFolder(OddFixture(tmp)));
        Assert.Equal(6, config.RotaryFrequencies);
        Assert.Equal(new[] { 2, 1, 1 }, config.MropeSection);

        // One token at T = 3, H = 5, W = 11.
        var rope = RopeTable.ForText(new[] { new[] { 3 }, new[] { 5 }, new[] { 11 } }, config.RopeTheta, config.RotaryFrequencies, config.MropeSection, config.MropeInterleaved);
        int[] expectedPosition = { 3, 5, 11, 3, 3, 3 };
        for (int j = 0; j < 6; j++)
        {
            // inv_freq[j] = 1 / theta^(2j / 12), theta 1e7 (the fixture's rope_theta).
            double angle = expectedPosition[j] / Math.Pow(1e7, 2.0 * j / 12);
            Assert.Equal(Math.Cos(angle), rope.Cos[j], 5);
            Assert.Equal(Math.Sin(angle), rope.Sin[j], 5);
        }
    }

    [Fact]
    public void InspectImportVerifyAndCompareAcceptIt()
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = OddFixture(tmp);
        var (code, output, error) = CliRunner.Run("inspect", hf, "--json");
        Assert.True(code == 0, error);
        var provider = JsonNode.Parse(output)!["provider"]!;
        Assert.Equal(0.375, (double)provider["rotary_percent"]!);
        Assert.Equal(new[] { 2, 1, 1 }, provider["mrope_section"]!.AsArray().Select(n => (int)n!));

        var megatron = tmp.Sub("mg");
        (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron);
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron);
        Assert.True(code == 0, error);
        (code, output, error) = CliRunner.Run("compare", "--hf-model", hf, "--megatron-path", megatron, "--input-ids", "5,17,99,3",
            // The fixture's random GDN norm weights lose ~1e-2 in Megatron's bf16(w - 1) (see README).
            "--layout-tolerance", "0.05");
        Assert.True(code == 0, output + error);
    }
}
