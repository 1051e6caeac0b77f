using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

public class TrainingCheckpointExportTests
{
    public static IEnumerable<object[]> Fixtures() => new[]
    {
        new object[] { "qwen35-vl-moe-tiny" }, new object[] { "qwen35-vl-dense-tiny" }, new object[] { "qwen3-vl-moe-tiny" },
        new object[] { "qwen35-text-dense-tied-tiny" }, new object[] { "qwen36-vl-moe-packed-tiny" },
    };

    /// <summary>A checkpoint saved by TP=2 PP=2 EP=2 training processes (one file per rank) exports byte-identical to the fixture.</summary>
    [Theory]
    [MemberData(nameof(Fixtures))]
    public void ManyRankCheckpointExportsTheFixture(string fixture)
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture(fixture);
        var root = tmp.Sub("train");
        var other = TrainingCheckpointFixture.Write(hfDir, root, new TrainingSave(2, 2, 2) { TrainingState = true, Threads = 2 });
        var files = Directory.GetFiles(Path.Combine(root, "iter_0001000"), "*.distcp").Select(Path.GetFileName).Order().ToList();
        Assert.True(files.Count >= 8, $"expected two data files per rank, found {string.Join(", ", files)}");
        Assert.Contains("__1_0.distcp", files);
        Assert.Contains("__1_1.distcp", files);

        var exported = CheckpointConverter.Export(new ExportRequest(hfDir, root, tmp.Sub("hf")));
        HfRoundTrip.AssertSameTensors(hfDir, exported.HfPath, fixture);
        Assert.Equal(other.Order(), exported.SkippedKeys.Order());
    }

    /// <summary>Export reads only the weights' bytes: optimizer items overwritten with garbage do not disturb it.</summary>
    [Fact]
    public void ExportNeverReadsTheOptimizerState()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-text-moe-tiny");
        var root = tmp.Sub("train");
        TrainingCheckpointFixture.Write(hfDir, root, new TrainingSave(2, 2, 2) { TrainingState = true });
        var folder = Path.Combine(root, "iter_0001000");
        List<DcpStorageItem> optimizerItems;
        using (var checkpoint = TorchDistCheckpoint.Open(folder))
            optimizerItems = checkpoint.Metadata.StorageData.Where(i => i.Key.Fqn.StartsWith("optimizer.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(optimizerItems);
        foreach (var item in optimizerItems)
        {
            using var file = new FileStream(Path.Combine(folder, item.Info.RelativePath), FileMode.Open, FileAccess.Write);
            file.Position = item.Info.Offset;
            file.Write(Enumerable.Repeat((byte)0xEE, (int)item.Info.Length).ToArray());
        }
        var exported = CheckpointConverter.Export(new ExportRequest(hfDir, root, tmp.Sub("hf")));
        HfRoundTrip.AssertSameTensors(hfDir, exported.HfPath, "garbage optimizer");
        Assert.Equal(2, exported.SkippedKeys.Count(k => k.StartsWith("optimizer.", StringComparison.Ordinal)));
    }

    [Fact]
    public void CommonPtReleaseAndIterationFolderPathsExport()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-vl-moe-tiny");
        var root = tmp.Sub("train");
        TrainingCheckpointFixture.Write(hfDir, root, new TrainingSave(2, 2, 2) { CommonPt = true, Release = true });
        Assert.True(File.Exists(Path.Combine(root, "release", "common.pt")));
        Assert.Equal("release", File.ReadAllText(Path.Combine(root, MegatronCheckpointFolder.TrackerFileName)));

        var fromRoot = CheckpointConverter.Export(new ExportRequest(hfDir, root, tmp.Sub("a")));
        HfRoundTrip.AssertSameTensors(hfDir, fromRoot.HfPath, "release via root");
        Assert.Empty(fromRoot.SkippedKeys);
        var fromIteration = CheckpointConverter.Export(new ExportRequest(hfDir, Path.Combine(root, "release"), tmp.Sub("b")));
        HfRoundTrip.AssertSameTensors(hfDir, fromIteration.HfPath, "release folder");
    }

    [Fact]
    public void ExportNeedsNoRunConfigAndAcceptsTheIterFolder()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-text-moe-tiny");
        var root = tmp.Sub("train");
        TrainingCheckpointFixture.Write(hfDir, root, new TrainingSave(2, 1, 4));
        Assert.Empty(Directory.GetFiles(root, "run_config.yaml", SearchOption.AllDirectories));
        var exported = CheckpointConverter.Export(new ExportRequest(hfDir, Path.Combine(root, "iter_0001000"), tmp.Sub("hf")));
        HfRoundTrip.AssertSameTensors(hfDir, exported.HfPath, "iter folder");
    }

    /// <summary>A config whose shapes differ from the checkpoint's fails before anything is written, naming the tensor and both shapes.</summary>
    [Fact]
    public void ShapeMismatchFailsBeforeWriting()
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        var root = tmp.Sub("train");
        TrainingCheckpointFixture.Write(hfDir, root, new TrainingSave(2, 2, 1));
        var configDir = tmp.Sub("other-config");
        Directory.CreateDirectory(configDir);
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(hfDir, "config.json")))!;
        var text = config["text_config"] ?? config;
        int intermediate = (int)text["intermediate_size"]!;
        text["intermediate_size"] = intermediate * 2;
        File.WriteAllText(Path.Combine(configDir, "config.json"), config.ToJsonString());

        var output = tmp.Sub("hf");
        var e = Assert.Throws<InvalidInputException>(() => CheckpointConverter.Export(new ExportRequest(configDir, root, output)));
        var first = e.Message.Split(Environment.NewLine)[0];
        Assert.Contains("decoder.layers.", first);
        Assert.Contains("mlp.linear_fc1.weight", first);
        Assert.Contains($"[{2 * intermediate}, ", first);
        Assert.Contains($"[{4 * intermediate}, ", first);
        Assert.False(Directory.Exists(output));
        Assert.Equal(new[] { "other-config", "train" }, Directory.GetFileSystemEntries(tmp.Path).Select(Path.GetFileName).Order());
    }

    /// <summary>The real 2-process training save reassembles into the tensors torch computed, the optimizer key skipped.</summary>
    [Fact]
    public void GoldenTrainedTp2ReadsBackIntoTheExpectedFullTensors()
    {
        var golden = TestPaths.Golden("golden_trained_tp2");
        using var checkpoint = TorchDistCheckpoint.Open(golden);
        Assert.Equal(1000L, checkpoint.Iteration);
        var (weights, skipped) = TorchDistExport.ModelWeights(checkpoint);
        using var expected = SafetensorsFile.Open(Path.Combine(golden, "expected_full_tensors.safetensors"));
        Assert.Equal(expected.Tensors.Select(t => t.ToString()).Order(), weights.Select(t => t.ToString()).Order());
        foreach (var t in expected.Tensors)
        {
            var want = new byte[t.ByteLength];
            expected.Read(t.Name, 0, want);
            Assert.True(want.AsSpan().SequenceEqual(checkpoint.ReadAll(t.Name)), $"{t.Name} differs");
        }
        Assert.Equal(new[] { "optimizer.state.exp_avg.decoder.final_layernorm.weight" }, skipped);
    }
}
