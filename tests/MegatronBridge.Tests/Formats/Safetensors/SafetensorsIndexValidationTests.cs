using System.Text.Json.Nodes;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.Safetensors;

/// <summary>A sharded copy of a fixture with a damaged index or shard: opening must fail naming the file.</summary>
public sealed class SafetensorsIndexValidationTests : IDisposable
{
    private readonly TempDir _tmp = TestPaths.NewTempDir();

    public SafetensorsIndexValidationTests()
    {
        using var source = SafetensorsCheckpoint.Open(TestPaths.Fixture("qwen35-text-dense-tied-tiny"));
        var plan = SafetensorsShardPlan.BySize(source.Tensors, 400_000);
        using var writer = SafetensorsCheckpointWriter.Create(_tmp.Path, plan,
            new SafetensorsCheckpointWriteOptions { File = SafetensorsWriteOptions.Default with { FlushToDisk = false } });
        writer.CopyFrom(source);
        writer.Commit();
    }

    public void Dispose() => _tmp.Dispose();

    private string IndexPath => _tmp.Sub("model.safetensors.index.json");

    private void EditIndex(Action<JsonObject> weightMapEdit)
    {
        var root = JsonNode.Parse(File.ReadAllText(IndexPath))!.AsObject();
        weightMapEdit(root["weight_map"]!.AsObject());
        File.WriteAllText(IndexPath, root.ToJsonString());
    }

    private (string Tensor, string Shard) FirstEntry()
    {
        var root = JsonNode.Parse(File.ReadAllText(IndexPath))!.AsObject();
        var first = root["weight_map"]!.AsObject().First();
        return (first.Key, (string)first.Value!);
    }

    private T OpenFails<T>(params string[] expectedInMessage) where T : Exception
    {
        var e = Assert.Throws<T>(() => SafetensorsCheckpoint.Open(_tmp.Path).Dispose());
        foreach (var s in expectedInMessage) Assert.Contains(s, e.Message);
        return e;
    }

    [Fact]
    public void TheUndamagedCopyOpens()
    {
        using var ckpt = SafetensorsCheckpoint.Open(_tmp.Path);
        Assert.True(ckpt.Files.Count >= 3);
        Assert.Equal(IndexPath, ckpt.IndexPath);
    }

    [Fact]
    public void ASingleModelFileTakesPrecedenceOverAnIndexLikeTransformers()
    {
        File.Copy(Path.Combine(TestPaths.Fixture("qwen3-vl-dense-tiny"), "model.safetensors"), _tmp.Sub("model.safetensors"));
        using var ckpt = SafetensorsCheckpoint.Open(_tmp.Path);
        Assert.Null(ckpt.IndexPath);
        Assert.Equal(_tmp.Sub("model.safetensors"), Assert.Single(ckpt.Files).Path);
        Assert.True(ckpt.TryGet("model.language_model.layers.0.mlp.gate_proj.weight", out _)); // a Qwen3-VL name, not the sharded model's
    }

    [Fact]
    public void IndexNamingAMissingShard()
    {
        var (_, shard) = FirstEntry();
        File.Move(_tmp.Sub(shard), _tmp.Sub("renamed.bin"));
        OpenFails<FileNotFoundException>(IndexPath, $"'{shard}'", "does not exist");
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("/etc/outside.safetensors")]
    [InlineData("sub/inner.safetensors")]
    [InlineData("..")]
    [InlineData("")]
    public void IndexNamingAFileOutsideTheFolder(string shardName)
    {
        var (tensor, _) = FirstEntry();
        EditIndex(map => map[tensor] = shardName);
        OpenFails<InvalidInputException>(IndexPath, $"'{shardName}'", $"'{tensor}'", "not a plain file name");
    }

    [Fact]
    public void IndexNamingATensorThatIsNotInItsShard()
    {
        var (tensor, shard) = FirstEntry();
        var root = JsonNode.Parse(File.ReadAllText(IndexPath))!.AsObject();
        var otherShard = root["weight_map"]!.AsObject().Select(p => (string)p.Value!).First(s => s != shard);
        EditIndex(map => map[tensor] = otherShard);
        OpenFails<InvalidInputException>(IndexPath, $"'{tensor}'", otherShard, "no such tensor");
    }

    [Fact]
    public void IndexNamingATensorNoShardHas()
    {
        var (_, shard) = FirstEntry();
        EditIndex(map => map["model.invented.weight"] = shard);
        OpenFails<InvalidInputException>(IndexPath, "'model.invented.weight'", "no such tensor");
    }

    [Fact]
    public void ShardTensorAbsentFromTheIndex()
    {
        var (tensor, shard) = FirstEntry();
        EditIndex(map => map.Remove(tensor));
        OpenFails<InvalidInputException>(_tmp.Sub(shard), $"'{tensor}'", "is not listed in");
    }

    [Fact]
    public void DuplicateTensorInTheIndex()
    {
        var (tensor, shard) = FirstEntry();
        var text = File.ReadAllText(IndexPath);
        var line = $"\"{tensor}\": \"{shard}\",";
        Assert.Contains(line, text);
        File.WriteAllText(IndexPath, text.Replace(line, line + "\n    " + line));
        OpenFails<InvalidInputException>(IndexPath, $"'{tensor}'", "twice");
    }

    [Fact]
    public void IndexThatIsNotJson()
    {
        File.WriteAllText(IndexPath, "{\"weight_map\": {\"a\": ");
        OpenFails<InvalidInputException>(IndexPath, "not valid JSON");
    }

    [Fact]
    public void IndexThatIsNotUtf8()
    {
        var (tensor, _) = FirstEntry();
        var bytes = File.ReadAllBytes(IndexPath);
        int at = System.Text.Encoding.UTF8.GetString(bytes).IndexOf(tensor, StringComparison.Ordinal) + 3;
        bytes[at] = 0xC3; // a lead byte followed by an ASCII letter
        File.WriteAllBytes(IndexPath, bytes);
        OpenFails<InvalidInputException>(IndexPath, "not valid UTF-8");
    }

    [Fact]
    public void IndexWithoutWeightMap()
    {
        File.WriteAllText(IndexPath, "{\"metadata\": {\"total_size\": 1}}");
        OpenFails<InvalidInputException>(IndexPath, "missing weight_map");
    }

    [Fact]
    public void IndexWithANonStringShard()
    {
        var (tensor, _) = FirstEntry();
        EditIndex(map => map[tensor] = 3);
        OpenFails<InvalidInputException>(IndexPath, $"'{tensor}'", "not a file name string");
    }

    [Fact]
    public void DamagedShardIsReportedByItsOwnPath()
    {
        var (_, shard) = FirstEntry();
        var path = _tmp.Sub(shard);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);
        OpenFails<InvalidInputException>(path, "truncated");
    }
}
