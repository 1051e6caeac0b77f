using System.Text.Json.Nodes;
using MegatronBridge.Cli.Commands;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>A difference JSON cannot hold as a number (a NaN in the output counts as infinitely far) is a named string.</summary>
public class CompareJsonNonFiniteTests
{
    [Fact]
    public void NonFiniteDifferences_AreWrittenAsNamedStrings()
    {
        var row = new ComparisonRow("HF vs reference",
            new CaseComparison("text", new Difference(double.PositiveInfinity, double.NaN, 4), new Difference(double.NegativeInfinity, 0, 4), new[] { 1 }, new[] { 1 }), 1e-3);
        var result = new CompareResult(new[] { row }, Array.Empty<LayerwiseComparison>(), 1e-5, HasGatedDeltaNet: false);
        var output = new StringWriter();
        JsonOutput.Write(output, CompareJson.ToJson(result));

        var json = JsonNode.Parse(output.ToString())!.AsObject();
        JsonAssert.Field(json, "passed", false);
        var parsed = json["rows"]![0]!.AsObject();
        JsonAssert.Field(parsed, "logits_max_abs_diff", "Infinity");
        JsonAssert.Field(parsed, "logits_mean_abs_diff", "NaN");
        JsonAssert.Field(parsed, "image_features_max_abs_diff", "-Infinity");
        JsonAssert.Field(parsed, "passed", false);
    }
}
