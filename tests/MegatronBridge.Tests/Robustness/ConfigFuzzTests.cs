using System.Text;
using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// Fuzzing of config.json handling: a structure-aware mutator sets fields of real fixture configs to hostile values
/// (zero, negative, huge, fractional, wrong type, missing), and the config is parsed, translated to a provider, mapped
/// against the fixture's tensors and planned. Only <see cref="InvalidInputException"/> may come out.
/// </summary>
public class ConfigFuzzTests
{
    private static readonly string[] Fixtures = { "qwen35-text-dense-tied-tiny", "qwen35-vl-moe-tiny", "qwen3-vl-dense-tiny" };

    private static readonly Func<JsonNode?>[] HostileValues =
    {
        () => 0, () => -1, () => 1, () => 3, () => 7, () => 2147483647, () => 4294967296L, () => 9007199254740993L,
        () => 1e300, () => -0.5, () => 2.5, () => "x", () => "", () => null, () => true, () => new JsonArray(), () => new JsonObject(),
        () => new JsonArray(1, 2), () => new JsonArray("full_attention"),
    };

    internal static void Target(byte[] configBytes, IReadOnlyList<TensorMeta> tensors)
    {
        var config = HfConfig.Parse(Encoding.UTF8.GetString(configBytes), "fuzz/config.json");
        var (bridge, provider) = BridgeRegistry.CreateProvider(config);
        var mapping = BridgeMappings.Create(bridge, provider, tensors, "fuzz");
        ImportPlan.Create(mapping, tensors, ParallelLayout.Single, null, "fuzz");
    }

    private static byte[] Mutate(Random random, JsonNode original)
    {
        var root = original.DeepClone();
        int edits = 1 + random.Next(3);
        for (int e = 0; e < edits; e++)
        {
            var leaves = new List<(JsonNode Parent, string? Key, int Index)>();
            Collect(root, leaves);
            if (leaves.Count == 0) break;
            var (parent, key, index) = leaves[random.Next(leaves.Count)];
            bool remove = random.Next(5) == 0;
            if (parent is JsonObject o && key != null)
            {
                if (remove) o.Remove(key);
                else o[key] = HostileValues[random.Next(HostileValues.Length)]();
            }
            else if (parent is JsonArray a)
            {
                if (remove) a.RemoveAt(index);
                else a[index] = HostileValues[random.Next(HostileValues.Length)]();
            }
        }
        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    private static void Collect(JsonNode node, List<(JsonNode, string?, int)> leaves)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o.ToList())
                {
                    leaves.Add((o, k, -1));
                    if (v != null) Collect(v, leaves);
                }
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                {
                    leaves.Add((a, null, i));
                    if (a[i] is { } v) Collect(v, leaves);
                }
                break;
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void HostileConfigValuesAreRefusedCleanly(int fixtureIndex)
    {
        var folder = TestPaths.Fixture(Fixtures[fixtureIndex]);
        IReadOnlyList<TensorMeta> tensors;
        using (var checkpoint = SafetensorsCheckpoint.Open(folder)) tensors = checkpoint.Tensors.ToList();
        var original = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        Action<byte[]> target = bytes => Target(bytes, tensors);
        Assert.Null(FuzzHarness.Check(target, Encoding.UTF8.GetBytes(original.ToJsonString())));

        var random = new Random(1000 + fixtureIndex);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int inputs = 0;
        for (; inputs < 1_000_000 && clock.Elapsed < FuzzHarness.Budget; inputs++)
        {
            var input = Mutate(random, original);
            var failure = FuzzHarness.Check(target, input);
            if (failure != null)
            {
                var saved = Path.Combine(Path.GetTempPath(), $"fuzz-config-{fixtureIndex}-{inputs}.json");
                File.WriteAllBytes(saved, input);
                Assert.Fail($"config input {inputs} (saved as {saved}) crashed: {failure}");
            }
        }
        Assert.True(inputs > 10, $"only {inputs} inputs in the budget");
    }
}
