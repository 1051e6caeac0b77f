using System.Text.Json.Nodes;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;
using static MegatronBridge.Tests.Jobs.CheckpointVariantFixture;

namespace MegatronBridge.Tests.Jobs;

/// <summary>
/// Export into the original HF shard layout when one original file held only the <c>mtp.*</c> tensors and the
/// checkpoint has no MTP: the files written are renumbered so that "-of-N" is the number of files.
/// </summary>
public class ShardRenumberingExportTests
{
    private const string Fixture = "qwen35-vl-dense-tiny";

    /// <summary>The fixture written as three numbered shards, the middle one holding only the mtp.* tensors.</summary>
    private static string ShardedWithMtpAlone(string destination)
    {
        var source = TestPaths.Fixture(Fixture);
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source).Where(f => Path.GetFileName(f) != SafetensorsCheckpoint.SingleFileName))
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        using var original = SafetensorsCheckpoint.Open(source);
        var others = original.Tensors.Where(t => !IsMtp(t.Name)).ToList();
        var layout = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < others.Count; i++)
            layout[others[i].Name] = SafetensorsShardPlan.ShardFileName(i < others.Count / 2 ? 1 : 3, 3);
        foreach (var t in original.Tensors.Where(t => IsMtp(t.Name))) layout[t.Name] = SafetensorsShardPlan.ShardFileName(2, 3);
        var ordered = original.Tensors.OrderBy(t => layout[t.Name], StringComparer.Ordinal).ToList();
        var plan = SafetensorsShardPlan.FromLayout(ordered, layout, alwaysWriteIndex: true);
        using var writer = SafetensorsCheckpointWriter.Create(destination, plan);
        foreach (var t in ordered) writer.WriteTensor(t.Name, original.ReadAll(t.Name));
        writer.Commit();
        return destination;
    }

    [Fact]
    public void AShardThatHeldOnlyMtpIsDroppedAndTheRestRenumbered()
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = ShardedWithMtpAlone(tmp.Sub("hf"));
        var megatron = tmp.Sub("mg");
        var exported = tmp.Sub("out");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron, "--no-mtp", "--quiet");
        Assert.True(code == 0, error);
        string output;
        (code, output, error) = CliRunner.Run("export", "--hf-model", hf, "--megatron-path", megatron, "--hf-path", exported, "--json");
        Assert.True(code == 0, error);
        // The GDN output norms pass through Megatron's bf16(w - 1): export names them as not bit-exact.
        var lossy = JsonNode.Parse(output)!["lossy_tensors"]!.AsArray().Select(n => n!.GetValue<string>()).ToHashSet();
        Assert.All(lossy, n => Assert.EndsWith(".linear_attn.norm.weight", n));

        var written = Directory.GetFiles(exported, "*.safetensors").Select(Path.GetFileName).Order().ToList();
        Assert.Equal(new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" }, written);
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(exported, SafetensorsCheckpoint.IndexFileName)))!;
        var weightMap = index["weight_map"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<string>());

        // Original file 1 became 1 of 2, original file 3 became 2 of 2; each tensor's bytes are the original's.
        using var original = SafetensorsCheckpoint.Open(hf);
        using var result = SafetensorsCheckpoint.Open(exported);
        var expected = original.Tensors.Where(t => !IsMtp(t.Name)).ToList();
        Assert.Equal(expected.Select(t => t.Name).Order(), weightMap.Keys.Order());
        foreach (var t in expected)
        {
            string was = original.FileOf(t.Name);
            string now = was == SafetensorsShardPlan.ShardFileName(1, 3) ? SafetensorsShardPlan.ShardFileName(1, 2) : SafetensorsShardPlan.ShardFileName(2, 2);
            Assert.Equal(now, weightMap[t.Name]);
            Assert.Equal(now, result.FileOf(t.Name));
            if (!lossy.Contains(t.Name)) Assert.Equal(original.ReadAll(t.Name), result.ReadAll(t.Name));
        }
    }
}
