using System.Text.Json.Nodes;
using MegatronBridge.IO;

namespace MegatronBridge.Config;

/// <summary>
/// The <c>quantization_config</c> of a blockwise FP8 release (Qwen's "-FP8" checkpoints, DeepSeek-V3):
/// <c>{quant_method: "fp8", fmt: "e4m3", activation_scheme: "dynamic", weight_block_size: [128, 128],
/// modules_to_not_convert: [...]}</c>. Looked for at the top level of config.json, then in <c>text_config</c>.
/// </summary>
internal sealed record Fp8QuantizationConfig(int BlockRows, int BlockCols, IReadOnlyList<string> ModulesToNotConvert, JsonObject Json)
{
    public const string Key = "quantization_config";
    public const int DefaultBlock = 128;

    /// <summary>The FP8 quantization config of <paramref name="config"/>, null when it has none; other methods are refused.</summary>
    public static Fp8QuantizationConfig? From(HfConfig config)
    {
        var fields = config.Object(Key) is { } top ? new JsonFields(top, config.Where + ": " + Key)
            : config.Object("text_config")?[Key] is JsonObject nested ? new JsonFields(nested, config.Where + ": text_config." + Key)
            : null;
        if (fields == null) return null;
        var method = fields.String("quant_method");
        if (method != "fp8")
            throw new InvalidInputException($"{fields.Where}: quant_method '{method}' is not supported (only blockwise \"fp8\")");
        var fmt = fields.String("fmt") ?? "e4m3";
        if (fmt != "e4m3")
            throw new InvalidInputException($"{fields.Where}: fmt '{fmt}' is not supported (only \"e4m3\")");
        var block = fields.IntList("weight_block_size") ?? new[] { DefaultBlock, DefaultBlock };
        if (block.Count != 2 || block[0] <= 0 || block[1] <= 0)
            throw new InvalidInputException($"{fields.Where}: weight_block_size must be two positive integers, got [{string.Join(", ", block)}]");
        return new Fp8QuantizationConfig(block[0], block[1], fields.StringList("modules_to_not_convert") ?? Array.Empty<string>(), fields.Json);
    }

    /// <summary>The config Qwen's FP8 releases carry, for an export quantized from bf16 weights.</summary>
    public static JsonObject Create(int blockRows, int blockCols, IEnumerable<string> modulesToNotConvert) => new()
    {
        ["activation_scheme"] = "dynamic",
        ["fmt"] = "e4m3",
        ["quant_method"] = "fp8",
        ["weight_block_size"] = new JsonArray(blockRows, blockCols),
        ["modules_to_not_convert"] = new JsonArray(modulesToNotConvert.Select(m => (JsonNode)JsonValue.Create(m)!).ToArray()),
    };
}
