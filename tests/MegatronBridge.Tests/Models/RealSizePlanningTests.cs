using System.Diagnostics;
using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Models;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MegatronBridge.Tests.Models;

/// <summary>Planning a real-size model is cheap: no tensor data is touched, only names, shapes and views.</summary>
public class RealSizePlanningTests(ITestOutputHelper output)
{
    [Fact]
    public void Qwen35With256ExpertsPlansQuickly()
    {
        var config = HfConfig.Load(Path.Combine(TestPaths.Fixture("real-configs"), "qwen3.5-35b-a3b.config.json"));
        var (bridge, provider) = BridgeRegistry.CreateProvider(config);
        var watch = Stopwatch.StartNew();
        // Config only: no checkpoint keys, so per-expert HF tensors are assumed (as Megatron-Bridge does).
        var mapping = BridgeMappings.Create(bridge, provider, Array.Empty<TensorMeta>(), "qwen3.5-35b-a3b");
        var hf = mapping.HfTensors.Select(t => new TensorMeta(t.Name, DType.BF16, t.Shape)).ToList();
        var plan = ImportPlan.Create(mapping, hf, new ParallelLayout(tp: 2, pp: 4, ep: 16, etp: 1));
        output.WriteLine($"{mapping.Mappings.Count} parameters, {hf.Count} HF tensors, {plan.Tensors.Count} local tensors in {watch.ElapsedMilliseconds} ms");
        Assert.Equal(provider.NumLayers * provider.NumExperts * 2, mapping.Parameters.Count(p => p.IsExpert && !p.Name.Contains(".mtp.", StringComparison.Ordinal)));
        // Every parameter once per shard: experts are not TP-split (etp 1), everything else has 2 TP shards, plus the MTP
        // stage's embedding copy.
        int experts = mapping.Parameters.Count(p => p.IsExpert);
        Assert.Equal(experts + 2 * (mapping.Mappings.Count - experts) + 2, plan.Tensors.Count);
        // Stage 3 of 4, EP rank 15 of 16 holds the last 10 layers' last 16 experts as local 0..15.
        var last = plan.ForRank(pp: 3, tp: 1, ep: 15, etp: 0).Where(t => t.IsExpert && !t.LocalName.Contains(".mtp.", StringComparison.Ordinal)).ToList();
        Assert.Equal(provider.NumLayers / 4 * 16 * 2, last.Count);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"planning took {watch.Elapsed}");
    }
}
