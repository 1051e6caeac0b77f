using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>The config.json an export edits in its output is read as the input config is, and refused naming the file.</summary>
public class ConfigJsonTests
{
    [Fact]
    public void TrailingCommas_AreRead_AsHfConfigReadsThem()
    {
        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(tmp.Sub("config.json"), "{\"dtype\": \"bfloat16\",}");
        Assert.Equal("bfloat16", (string?)ConfigJson.Parse(tmp.Sub("config.json"))!["dtype"]);
    }

    [Fact]
    public void NotJson_IsAnInputErrorNamingTheFile()
    {
        using var tmp = TestPaths.NewTempDir();
        File.WriteAllText(tmp.Sub("config.json"), "{\"dtype\": ");
        var e = Assert.Throws<InvalidInputException>(() => ConfigJson.Parse(tmp.Sub("config.json")));
        Assert.StartsWith($"{tmp.Sub("config.json")}: not valid JSON (", e.Message);
    }
}
