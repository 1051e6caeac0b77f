using MegatronBridge.Conversion;
using MegatronBridge.Conversion.Checkpoints;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Conversion.Checkpoints;

public class TorchLegacyRoundTripTests
{
    private static readonly HashSet<string> MoeFixtures = new(StringComparer.Ordinal)
    {
        "qwen35-vl-moe-tiny", "qwen35-vl-moe-mixed-tiny", "qwen36-vl-moe-packed-tiny", "qwen35-text-moe-tiny", "qwen3-vl-moe-tiny",
    };

    /// <summary>HF -> legacy per-rank files at TP=2 PP=2 (EP=2 for MoE) -> HF reproduces every tensor.</summary>
    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void Tp2Pp2Ep2RoundTripsEveryFixture(string fixture)
    {
        var layout = new ParallelLayout(tp: 2, pp: 2, ep: MoeFixtures.Contains(fixture) ? 2 : 1);
        var folders = RoundTrip(fixture, layout);
        var expected = MoeFixtures.Contains(fixture)
            ? new[] { "mp_rank_00_000_000", "mp_rank_00_000_001", "mp_rank_00_001_000", "mp_rank_00_001_001", "mp_rank_01_000_000", "mp_rank_01_000_001", "mp_rank_01_001_000", "mp_rank_01_001_001" }
            : new[] { "mp_rank_00_000", "mp_rank_00_001", "mp_rank_01_000", "mp_rank_01_001" };
        Assert.Equal(expected, folders);
    }

    public static IEnumerable<object[]> OtherLayouts() => new[]
    {
        new object[] { "qwen35-vl-dense-tiny", 4, 1, 1, 1, 0 },
        new object[] { "qwen35-vl-moe-tiny", 1, 2, 2, 1, 0 },
        new object[] { "qwen35-vl-moe-tiny", 2, 1, 1, 8, 1 },
        new object[] { "qwen35-text-moe-tiny", 1, 1, 1, 8, 1 },
        new object[] { "qwen3-vl-moe-tiny", 2, 2, 1, 4, 1 },
        new object[] { "qwen35-text-dense-tied-tiny", 1, 2, 2, 1, 0 },
        new object[] { "qwen36-vl-moe-packed-tiny", 2, 2, 2, 2, 0 },
    };

    [Theory]
    [MemberData(nameof(OtherLayouts))]
    public void OtherLayoutsRoundTrip(string fixture, int tp, int pp, int vpp, int ep, int etp) =>
        RoundTrip(fixture, new ParallelLayout(tp, pp, vpp, ep, etp));

    private static IReadOnlyList<string?> RoundTrip(string fixture, ParallelLayout layout)
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture(fixture);
        var imported = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("megatron")) { Format = MegatronFormat.Torch, Layout = layout });
        Assert.Equal("0", File.ReadAllText(Path.Combine(imported.MegatronPath, MegatronCheckpointFolder.TrackerFileName)));
        var folders = Directory.GetDirectories(imported.IterationFolder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();

        using (var source = TorchLegacyExport.Open(MappingOf(hfDir), imported.IterationFolder))
            Assert.Equal(layout, source.Layout);
        var exported = CheckpointConverter.Export(new ExportRequest(hfDir, imported.MegatronPath, tmp.Sub("hf")));
        Assert.Equal(MegatronFormat.Torch, exported.Format);
        Assert.Empty(exported.SkippedKeys);
        HfRoundTrip.AssertSameTensors(hfDir, exported.HfPath, $"{fixture} {layout}");
        return folders;
    }

    private static ModelMapping MappingOf(string hfDir)
    {
        using var hf = MegatronBridge.Formats.Safetensors.SafetensorsCheckpoint.Open(hfDir);
        return MegatronBridge.Models.BridgeMappings.ForHfFolder(hfDir, hf).Mapping;
    }

    [Fact]
    public void RankFileHoldsLocalNamesChunkKeysAndVersion()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-vl-moe-tiny");
        var imported = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("m"))
            { Format = MegatronFormat.Torch, Layout = new ParallelLayout(tp: 1, pp: 2, vpp: 2, ep: 2) });
        // 8 layers over 2 stages x 2 chunks: stage 1 chunk 1 holds global layers 6, 7 as local 0, 1; EP rank 1 holds experts 4..7 as 0..3.
        using var file = LegacyCheckpointFile.Open(LegacyCheckpointNames.RankFile(imported.IterationFolder, 0, 1, 1, 2, 2), modelKey: null);
        Assert.Equal(new[] { "model0", "model1" }, file.ModelKeys);
        Assert.Equal(3.0, file.CheckpointVersion);
        Assert.Equal(0L, file.Iteration);
        var names = file.ChunkTensors("model1").Select(t => t.Name).ToList();
        Assert.Contains(names, n => n.StartsWith("language_model.decoder.layers.1.", StringComparison.Ordinal));
        Assert.DoesNotContain(names, n => n.StartsWith("language_model.decoder.layers.2.", StringComparison.Ordinal));
        Assert.Contains("language_model.decoder.final_layernorm.weight", names);
        Assert.DoesNotContain("language_model.embedding.word_embeddings.weight", file.ChunkTensors("model0").Select(t => t.Name));
        Assert.Contains(names, n => n.Contains(".mlp.experts.linear_fc1.weight3", StringComparison.Ordinal) || n.Contains(".mlp.experts.local_experts.3.", StringComparison.Ordinal));
        Assert.DoesNotContain(names, n => n.Contains(".mlp.experts.linear_fc1.weight4", StringComparison.Ordinal) || n.Contains(".mlp.experts.local_experts.4.", StringComparison.Ordinal));
    }

    [Fact]
    public void ExtraTopLevelKeysAreSkippedAndCounted()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        var imported = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("m")) { Format = MegatronFormat.Torch });
        var rankFile = LegacyCheckpointNames.RankFile(imported.IterationFolder, 0);
        // Re-write the single rank file with optimizer and rng state beside the model, as a training run saves it.
        var rewritten = rankFile + ".new";
        using (var file = LegacyCheckpointFile.Open(rankFile))
        {
            var writer = new LegacyCheckpointWriter(rewritten) { Iteration = 0 };
            foreach (var t in file.Tensors) writer.AddTensor(t.Name, MegatronBridge.Formats.TorchZip.TorchTensorValue.FromSource(file, t.Name));
            writer.Extra = new MegatronBridge.Formats.Pickle.PyDict()
                .Add("optimizer", new MegatronBridge.Formats.Pickle.PyDict().Add("step", 10L))
                .Add("rng_state", new List<object?>());
            writer.Write();
        }
        File.Move(rewritten, rankFile, overwrite: true);
        var exported = CheckpointConverter.Export(new ExportRequest(hfDir, imported.IterationFolder, tmp.Sub("hf")));
        Assert.Equal(new[] { "mp_rank_00:optimizer", "mp_rank_00:rng_state" }, exported.SkippedKeys);
        HfRoundTrip.AssertSameTensors(hfDir, exported.HfPath, "with optimizer");
    }
}
