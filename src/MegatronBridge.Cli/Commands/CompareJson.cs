using System.Text.Json.Nodes;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// <c>compare --json</c>: the facts the text report prints (table rows, layer-by-layer lines, skipped image cases, the
/// GDN note, PASS/FAIL) as one object with snake_case names.
/// </summary>
internal static class CompareJson
{
    public static JsonObject ToJson(CompareResult result) => new()
    {
        ["passed"] = result.Passes,
        ["rows"] = new JsonArray(result.Rows.Select(r => (JsonNode?)Row(r)).ToArray()),
        ["layout_tolerance"] = result.LayoutTolerance,
        ["layerwise"] = new JsonArray(result.Layerwise.Select(l => (JsonNode?)Layerwise(l)).ToArray()),
        ["skipped_image_cases"] = new JsonObject
        {
            ["count"] = result.ImageCasesSkipped,
            ["reason"] = result.ImageCasesSkippedReason,
        },
        ["note"] = result.Note,
    };

    private static JsonObject Row(ComparisonRow row)
    {
        var r = row.Result;
        return new JsonObject
        {
            ["comparison"] = row.What,
            ["case"] = r.Name,
            ["logits_max_abs_diff"] = Number(r.Logits.MaxAbs),
            ["logits_mean_abs_diff"] = Number(r.Logits.MeanAbs),
            ["image_features_max_abs_diff"] = r.ImageEmbeds is { } e ? Number(e.MaxAbs) : null,
            ["greedy_tokens_match"] = r.GreedyMatches,
            ["greedy_tokens"] = Ids(r.ActualGreedy),
            ["expected_greedy_tokens"] = Ids(r.ExpectedGreedy),
            ["tolerance"] = row.Tolerance,
            ["passed"] = row.Passes,
        };
    }

    private static JsonObject Layerwise(LayerwiseComparison side) => new()
    {
        ["case"] = side.Case,
        ["steps"] = side.Steps,
        ["first_divergence"] = side.FirstDivergence is { } first ? Step(first) : null,
        ["largest"] = Step(side.Largest),
    };

    private static JsonObject Step(StepDifference step) => new()
    {
        ["where"] = step.Where,
        ["max_abs_diff"] = Number(step.Difference.MaxAbs),
        ["mean_abs_diff"] = Number(step.Difference.MeanAbs),
    };

    private static JsonArray Ids(IEnumerable<int> ids) => new(ids.Select(i => (JsonNode?)i).ToArray());

    /// <summary>
    /// JSON has no NaN or infinity; a difference that is not finite (a NaN in the output counts as infinitely far) is
    /// written as the string "NaN", "Infinity" or "-Infinity", the names .NET's own JSON writer uses for them.
    /// </summary>
    private static JsonNode Number(double value) =>
        double.IsFinite(value) ? JsonValue.Create(value)
        : JsonValue.Create(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
}
