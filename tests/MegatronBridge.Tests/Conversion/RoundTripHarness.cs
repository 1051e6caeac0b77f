using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Models;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Conversion;

/// <summary>HF fixture -> Megatron ranks -> gathered shards -> HF, asserting names, dtypes, bytes and coverage.</summary>
internal static class RoundTripHarness
{
    // Opening a fixture and building its mapping once keeps the layout grid fast; both are read-only afterwards.
    private static readonly ConcurrentDictionary<string, Lazy<(SafetensorsCheckpoint Hf, ModelMapping Mapping)>> Loaded = new();

    private static (SafetensorsCheckpoint Hf, ModelMapping Mapping) Load(string fixture) =>
        Loaded.GetOrAdd(fixture, f => new Lazy<(SafetensorsCheckpoint, ModelMapping)>(() =>
        {
            string folder = TestPaths.Fixture(f);
            var hf = SafetensorsCheckpoint.Open(folder);
            return (hf, BridgeMappings.ForHfFolder(folder, hf).Mapping);
        })).Value;

    public static void Run(string fixture, ParallelLayout layout)
    {
        var (hf, mapping) = Load(fixture);
        var import = ImportPlan.Create(mapping, hf.Tensors, layout);

        // Every Megatron parameter is produced, with every shard, exactly once (duplicates aside).
        var naming = mapping.Naming(layout);
        var executor = new RecipeExecutor();
        var gathered = new MemoryTensorSource("gathered");
        var seenLocal = new HashSet<(int, int, int, int, string)>();
        foreach (var t in import.Tensors)
        {
            Assert.True(seenLocal.Add((t.PpRank, t.VppChunk, t.ShardRank, t.EpRank, t.LocalName)), $"two tensors named {t.LocalName} on one rank");
            Assert.Equal(t.LocalName, t.Recipe.Output.Name);
            if (t.IsDuplicate) continue;
            Assert.Equal(t.Param.Name, naming.ToGlobal(t.LocalName, t.PpRank, t.VppChunk, t.EpRank));
            gathered.Add(t.Recipe.Output with { Name = t.ShardName }, executor.ExecuteToMemory(t.Recipe, hf));
        }
        var produced = import.Tensors.Where(t => !t.IsDuplicate).Select(t => t.Param.Name).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(mapping.Parameters.Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal), produced.OrderBy(n => n, StringComparer.Ordinal));
        int tp = layout.Tp, etp = layout.Etp;
        Assert.Equal(mapping.Parameters.Sum(p => p.IsExpert ? etp : tp), gathered.Tensors.Count);

        // Every HF tensor is consumed (no ignore list needed for the fixtures).
        Assert.Empty(import.IgnoredHfTensors);
        Assert.Equal(hf.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal),
            mapping.HfTensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));

        // Back to HF: same names (in the original order), dtypes, shapes and bytes; GDN norms as bf16(bf16(w-1)+1).
        var export = ExportPlan.Create(mapping, gathered.Tensors, layout, new ExportOptions { OriginalHfTensors = hf.Tensors.Select(t => t.Name).ToList() });
        Assert.Equal(hf.Tensors.Select(t => t.Name), export.Recipes.Select(r => r.Output.Name));
        var lossy = export.LossyTensors.ToHashSet(StringComparer.Ordinal);
        Assert.All(lossy, n => Assert.EndsWith("linear_attn.norm.weight", n));
        Assert.Equal(hf.Tensors.Count(t => t.Name.EndsWith("linear_attn.norm.weight", StringComparison.Ordinal)), lossy.Count);
        foreach (var recipe in export.Recipes)
        {
            var original = hf.Get(recipe.Output.Name);
            Assert.Equal(original.DType, recipe.Output.DType);
            Assert.Equal(original.Shape, recipe.Output.Shape);
            var bytes = executor.ExecuteToMemory(recipe, gathered);
            var expected = hf.ReadAll(recipe.Output.Name);
            if (lossy.Contains(recipe.Output.Name)) expected = ThroughZeroCentred(expected);
            Assert.True(expected.AsSpan().SequenceEqual(bytes), $"{fixture} {layout}: {recipe.Output.Name} differs after the round trip");
        }
    }

    /// <summary>bf16(bf16(w - 1) + 1), element by element, computed here independently of the executor.</summary>
    private static byte[] ThroughZeroCentred(byte[] bf16)
    {
        var bits = MemoryMarshal.Cast<byte, ushort>(bf16).ToArray();
        for (int i = 0; i < bits.Length; i++)
        {
            float w = ElementConvert.BFloat16ToSingle(bits[i]);
            float m = ElementConvert.BFloat16ToSingle(ElementConvert.SingleToBFloat16(w - 1f));
            bits[i] = ElementConvert.SingleToBFloat16(m + 1f);
        }
        return MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
    }
}
