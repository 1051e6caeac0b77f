using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.IO;

namespace MegatronBridge.Jobs;

/// <summary>Reads a config.json that an export copied to its output, to edit it: read as HfConfig reads config.json.</summary>
internal static class ConfigJson
{
    /// <summary>The file's JSON (trailing commas allowed, as for the input config); not JSON is refused, naming the file.</summary>
    public static JsonNode? Parse(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: not valid JSON ({e.Message})", e);
        }
    }
}
