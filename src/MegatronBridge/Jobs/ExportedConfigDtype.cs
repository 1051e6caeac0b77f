using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// Makes an exported config.json state the dtype its tensors were written in: the <c>dtype</c> / <c>torch_dtype</c>
/// fields of the top level, <c>text_config</c> and <c>vision_config</c> that the source has are set to it (a config
/// with none of them gets a top-level <c>dtype</c>, transformers 5's name). A config that already says so is left
/// byte for byte as copied.
/// </summary>
internal static class ExportedConfigDtype
{
    private static readonly string[] Fields = { "dtype", "torch_dtype" };

    public static void Restate(string configPath, DType written)
    {
        if (!File.Exists(configPath)) return;
        var root = ConfigJson.Parse(configPath) as JsonObject
                   ?? throw new InvalidInputException($"{configPath}: not a JSON object");
        if (Restate(root, written)) File.WriteAllText(configPath, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Edits <paramref name="config"/> in place; true when anything changed.</summary>
    public static bool Restate(JsonObject config, DType written)
    {
        var name = written.TorchName();
        var levels = new[] { config, config["text_config"] as JsonObject, config["vision_config"] as JsonObject }.OfType<JsonObject>().ToList();
        bool anyField = false, changed = false;
        foreach (var level in levels)
        {
            foreach (var field in Fields)
            {
                if (!level.ContainsKey(field)) continue;
                anyField = true;
                if (level[field] is JsonValue v && v.TryGetValue<string>(out var s) && s == name) continue;
                level[field] = name;
                changed = true;
            }
        }
        if (!anyField)
        {
            config["dtype"] = name;
            changed = true;
        }
        return changed;
    }
}
