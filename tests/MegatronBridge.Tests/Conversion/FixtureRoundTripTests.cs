using MegatronBridge.Conversion;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Conversion;

/// <summary>Every fixture: HF -> Megatron (all ranks) -> HF is byte-identical except the GDN output norms.</summary>
public class FixtureRoundTripTests
{
    private static readonly HashSet<string> MoeFixtures = new(StringComparer.Ordinal)
    {
        "qwen35-vl-moe-tiny", "qwen35-vl-moe-mixed-tiny", "qwen36-vl-moe-packed-tiny", "qwen35-text-moe-tiny", "qwen3-vl-moe-tiny",
    };

    [Theory, MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void SingleRank(string fixture) => RoundTripHarness.Run(fixture, ParallelLayout.Single);

    /// <summary>A representative layout per fixture: TP 2, PP 2 (4 layers per stage, or 2 for Qwen3-VL), EP 2 for MoE.</summary>
    [Theory, MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void Tp2Pp2(string fixture) =>
        RoundTripHarness.Run(fixture, new ParallelLayout(tp: 2, pp: 2, ep: MoeFixtures.Contains(fixture) ? 2 : 1));

    [Theory, MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void Tp4(string fixture) =>
        RoundTripHarness.Run(fixture, new ParallelLayout(tp: 4, ep: MoeFixtures.Contains(fixture) ? 4 : 1, etp: 1));

    public static IEnumerable<object[]> Grid()
    {
        foreach (int tp in new[] { 1, 2, 4 })
        foreach (int pp in new[] { 1, 2 })
        foreach (int ep in new[] { 1, 2, 4, 8 })
        foreach (int etp in new[] { 1, 2 })
            yield return new object[] { tp, pp, ep, etp };
    }

    /// <summary>The full grid on the Qwen3.6 fixture (packed experts in decoder and MTP, GDN, vision, MTP).</summary>
    [Theory, MemberData(nameof(Grid))]
    public void FullGridOnQwen36(int tp, int pp, int ep, int etp) =>
        RoundTripHarness.Run("qwen36-vl-moe-packed-tiny", new ParallelLayout(tp, pp, 1, ep, etp));

    [Fact]
    public void VirtualPipelineChunks() =>
        RoundTripHarness.Run("qwen35-vl-moe-mixed-tiny", new ParallelLayout(tp: 2, pp: 2, vpp: 2, ep: 8, etp: 2));
}
