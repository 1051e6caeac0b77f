using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Tests.Support;

namespace MegatronBridge.Tests.Providers;

/// <summary>Fixture configs loaded as mutable JSON, to derive variants (a field removed, set to null, changed).</summary>
internal static class ConfigBuilder
{
    public static JsonObject FixtureJson(string fixture) =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture(fixture), "config.json")))!;

    public static JsonObject Text(JsonObject config) => config["text_config"] as JsonObject ?? config;

    public static HfConfig Parse(JsonObject config, string where = "test/config.json") => HfConfig.Parse(config.ToJsonString(), where);
}
