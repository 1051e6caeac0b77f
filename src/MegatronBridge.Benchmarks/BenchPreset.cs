using System.Text.Json.Nodes;
using MegatronBridge.IO;

namespace MegatronBridge.Benchmarks;

/// <summary>A real model configuration the benchmark synthesises checkpoints for (embedded from tests/fixtures/real-configs).</summary>
internal sealed record BenchPreset(string Name, string ConfigResource)
{
    public static IReadOnlyList<BenchPreset> All { get; } =
    [
        new("27b", "qwen3.6-27b.config.json"),
        new("35b-a3b", "qwen3.5-35b-a3b.config.json"),
        new("397b-a17b", "qwen3.5-397b-a17b.config.json"),
    ];

    public static BenchPreset Find(string name) =>
        All.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new InvalidInputException($"unknown bench size '{name}' (known: {string.Join(", ", All.Select(p => p.Name))}, all)");

    /// <summary>The real config.json of the preset.</summary>
    public JsonObject LoadConfig()
    {
        var assembly = typeof(BenchPreset).Assembly;
        string resource = $"MegatronBridge.RealConfigs.{ConfigResource}";
        using var stream = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"embedded config {resource} is missing from the build");
        return JsonNode.Parse(stream) as JsonObject ?? throw new InvalidInputException($"{ConfigResource}: not a JSON object");
    }

    /// <summary>
    /// The real config with only the last <paramref name="layers"/> decoder layers (the last is full attention,
    /// which the MTP layer's spec needs) (and as many vision blocks, at
    /// most the real depth), so a synthetic checkpoint fits the disk and its size grows linearly with the layers.
    /// </summary>
    public static JsonObject CutLayers(JsonObject config, int layers)
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers), layers, "layers must be at least 1");
        var cut = (JsonObject)config.DeepClone();
        var text = cut["text_config"] as JsonObject ?? throw new InvalidInputException("config.json: no text_config");
        var types = text["layer_types"] as JsonArray ?? throw new InvalidInputException("config.json: text_config.layer_types missing");
        if (layers > types.Count) throw new InvalidInputException($"the model has only {types.Count} layers");
        text["layer_types"] = new JsonArray(types.Skip(types.Count - layers).Select(t => t?.DeepClone()).ToArray());
        text["num_hidden_layers"] = (long)layers;
        if (cut["vision_config"] is JsonObject vision && vision["depth"] is JsonNode depth)
        {
            vision["depth"] = (long)Math.Min(depth.GetValue<int>(), layers);
            // Deepstack indexes (Qwen3-VL) must stay inside the cut tower.
            if (vision["deepstack_visual_indexes"] is JsonArray deep)
                vision["deepstack_visual_indexes"] = new JsonArray(deep.Where(d => d!.GetValue<int>() < layers).Select(d => d!.DeepClone()).ToArray());
        }
        return cut;
    }
}
