using MegatronBridge.Reference;
using MegatronBridge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MegatronBridge.Tests.Reference;

/// <summary>The reference forward against what transformers 5.17 computed for each tiny fixture.</summary>
public class FixtureForwardTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-3;

    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void Logits_ImageFeatures_And_GreedyTokens_Match_Transformers(string fixture)
    {
        var folder = TestPaths.Fixture(fixture);
        var model = ReferenceModel.LoadHf(folder);
        var cases = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName));
        foreach (var c in cases)
        {
            var result = CaseComparison.Run(model, c);
            output.WriteLine($"{fixture} {c.Name}: logits max {result.Logits.MaxAbs:E3} mean {result.Logits.MeanAbs:E3}; " +
                $"embeds {result.ImageEmbeds?.MaxAbs:E3}; greedy [{string.Join(",", result.ActualGreedy)}] vs [{string.Join(",", result.ExpectedGreedy)}]");
            Assert.True(result.Logits.MaxAbs <= Tolerance, $"{fixture} {c.Name}: max abs logit difference {result.Logits.MaxAbs:E3} > {Tolerance}");
            if (result.ImageEmbeds is { } e) Assert.True(e.MaxAbs <= Tolerance, $"{fixture} {c.Name}: max abs image feature difference {e.MaxAbs:E3} > {Tolerance}");
            Assert.Equal(c.GreedyTokens, result.ActualGreedy);
        }
    }
}
