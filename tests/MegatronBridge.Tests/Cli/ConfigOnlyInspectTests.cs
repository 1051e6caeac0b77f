using System.Text.Json.Nodes;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary><c>inspect</c> of a folder that holds config.json and no weights.</summary>
public class ConfigOnlyInspectTests
{
    private static string ConfigOnly(TempDir tmp, string fixture)
    {
        var dir = tmp.Sub(fixture);
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(TestPaths.Fixture(fixture), "config.json"), Path.Combine(dir, "config.json"));
        return dir;
    }

    [Fact]
    public void JsonHasTheProviderAndLayoutAndNoCounts()
    {
        using var tmp = TestPaths.NewTempDir();
        var (code, output, error) = CliRunner.Run("inspect", ConfigOnly(tmp, "qwen35-vl-dense-tiny"), "--json");
        Assert.True(code == 0, error);
        Assert.Equal("", error);
        var json = JsonNode.Parse(output)!.AsObject();
        Assert.Equal("Qwen35VLModelProvider", (string?)json["provider_class"]);
        Assert.Equal(8, (int)json["provider"]!["num_layers"]!);
        Assert.Equal("G G G A G G G A", (string?)json["layer_layout"]);
        Assert.False((bool)json["weights_present"]!);
        Assert.Equal(0, (int)json["tensor_count"]!);
        Assert.Equal(0L, (long)json["parameters"]!["total"]!);
    }

    [Fact]
    public void TablesShowTheProviderAndLayout()
    {
        using var tmp = TestPaths.NewTempDir();
        var (code, output, error) = CliRunner.Run("inspect", ConfigOnly(tmp, "qwen35-vl-moe-tiny"));
        Assert.True(code == 0, error);
        Assert.Contains("Qwen35VLMoEModelProvider", output);
        Assert.Contains("G G G A G G G A", output);
        Assert.Contains("config.json only", output);
        Assert.Contains("moe_router_topk", output);
    }

    [Fact]
    public void WeightsFolderStillReportsWeightsPresent()
    {
        var (code, output, error) = CliRunner.Run("inspect", TestPaths.Fixture("qwen35-vl-dense-tiny"), "--json");
        Assert.True(code == 0, error);
        Assert.True((bool)JsonNode.Parse(output)!["weights_present"]!);
    }
}
