using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

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
        // TransformerEngine linears carry an empty uint8 _extra_state right after their parameters; the output layer None.
        int qkv = names.IndexOf("language_model.decoder.layers.1.self_attention.linear_qkv.weight");
        Assert.True(qkv >= 0, "layer 1 of chunk 1 is an attention layer");
        var extra = names.IndexOf("language_model.decoder.layers.1.self_attention.linear_qkv._extra_state");
        Assert.True(extra > qkv, "linear_qkv._extra_state follows linear_qkv.weight");
        Assert.Equal(new TensorShape(0), file.ChunkTensors("model1")[extra].Shape);
        Assert.Equal(DType.U8, file.ChunkTensors("model1")[extra].DType);
        Assert.Single(names, n => n.EndsWith(".mlp.experts.linear_fc1._extra_state", StringComparison.Ordinal) && n.Contains("layers.1.", StringComparison.Ordinal));
        Assert.DoesNotContain("language_model.embedding.word_embeddings.weight", file.ChunkTensors("model0").Select(t => t.Name));
        Assert.Contains(names, n => n.Contains(".mlp.experts.linear_fc1.weight3", StringComparison.Ordinal) || n.Contains(".mlp.experts.local_experts.3.", StringComparison.Ordinal));
        Assert.DoesNotContain(names, n => n.Contains(".mlp.experts.linear_fc1.weight4", StringComparison.Ordinal) || n.Contains(".mlp.experts.local_experts.4.", StringComparison.Ordinal));
    }

    /// <summary>One file per (TP, PP, EP) rank cannot hold more expert-TP shards than TP ranks: refused before writing.</summary>
    [Fact]
    public void ExpertTensorSizeAboveTensorSizeIsRefused()
    {
        using var tmp = TestPaths.NewTempDir();
        var e = Assert.Throws<InvalidInputException>(() => CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen35-text-moe-tiny"), tmp.Sub("m"))
            { Format = MegatronFormat.Torch, Layout = new ParallelLayout(tp: 1, ep: 2, etp: 2) }));
        Assert.Contains("expert-tensor-parallel size 2 must divide tensor-parallel size 1", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(tmp.Path));
    }

    [Fact]
    public void MissingRankFolderIsNamed()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        var imported = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("m")) { Format = MegatronFormat.Torch, Layout = new ParallelLayout(tp: 2, pp: 2) });
        Directory.Delete(Path.Combine(imported.IterationFolder, "mp_rank_01_000"), recursive: true);
        var e = Assert.Throws<InvalidInputException>(() => CheckpointConverter.Export(new ExportRequest(hfDir, imported.MegatronPath, tmp.Sub("hf"))));
        Assert.Contains("(1, 0) is missing", e.Message);
        Assert.False(Directory.Exists(tmp.Sub("hf")));
    }

    [Fact]
    public void ShapeMismatchNamesTheShardBeforeWriting()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        var imported = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("m")) { Format = MegatronFormat.Torch, Layout = new ParallelLayout(tp: 2) });
        // The same model with a doubled MLP width: every fc1/fc2 shard has the wrong shape.
        var configDir = tmp.Sub("wider");
        Directory.CreateDirectory(configDir);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(hfDir, "config.json")))!;
        int intermediate = (int)config["intermediate_size"]!;
        config["intermediate_size"] = 2 * intermediate;
        File.WriteAllText(Path.Combine(configDir, "config.json"), config.ToJsonString());

        var e = Assert.Throws<InvalidInputException>(() => CheckpointConverter.Export(new ExportRequest(configDir, imported.MegatronPath, tmp.Sub("hf"))));
        var first = e.Message.Split(Environment.NewLine)[0];
        Assert.Contains("decoder.layers.0.mlp.linear_fc1.weight#tp0", first);
        Assert.Contains($"has shape [{intermediate}, ", first);
        Assert.Contains($"expected [{2 * intermediate}, ", first);
        Assert.False(Directory.Exists(tmp.Sub("hf")));
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
            var writer = new LegacyCheckpointWriter(rewritten)
            {
                Iteration = 0,
                Args = LegacyCheckpointWriter.Namespace(new MegatronBridge.Formats.Pickle.PyDict().Add("tensor_model_parallel_size", 1L)),
            };
            foreach (var t in file.Tensors) writer.AddTensor(t.Name, MegatronBridge.Formats.TorchZip.TorchTensorValue.FromSource(file, t.Name));
            writer.Extra = new MegatronBridge.Formats.Pickle.PyDict()
                .Add("optimizer", new MegatronBridge.Formats.Pickle.PyDict().Add("step", 10L))
                .Add("rng_state", new List<object?>());
            writer.Write();
        }
        File.Move(rewritten, rankFile, overwrite: true);
        var exported = CheckpointConverter.Export(new ExportRequest(hfDir, imported.IterationFolder, tmp.Sub("hf")));
        Assert.Equal(new[] { "mp_rank_00:args", "mp_rank_00:optimizer", "mp_rank_00:rng_state" }, exported.SkippedKeys);
        HfRoundTrip.AssertSameTensors(hfDir, exported.HfPath, "with optimizer");
    }
}
