using System.Text.Json;
using System.Text.Json.Nodes;

namespace MegatronBridge.Cli.Commands;

/// <summary>How every --json result is printed: one indented object.</summary>
internal static class JsonOutput
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Write(TextWriter output, JsonNode json) => output.WriteLine(json.ToJsonString(Indented));
}
