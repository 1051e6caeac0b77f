using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Benchmarks;

/// <summary>
/// The HF tensor names and shapes of a checkpoint with a given config.json, as the bridge reads them: the config is
/// dispatched and translated by <see cref="BridgeRegistry"/>, and the tensors are those the bridge's mapping reads,
/// with routed experts packed as transformers writes them for Qwen3.5 / Qwen3.6 (there is no checkpoint yet whose keys
/// could tell the layout). Every tensor is bf16, the dtype of the real releases.
/// </summary>
internal static class BenchTensorList
{
    /// <param name="where">Names the config in error messages.</param>
    public static IReadOnlyList<TensorMeta> FromConfig(JsonObject config, string where = "config.json")
    {
        var hf = HfConfig.Parse(config.ToJsonString(), where);
        var (bridge, provider) = BridgeRegistry.CreateProvider(hf);
        var mapping = BridgeMappings.Create(bridge, provider, ExpertLayouts.Packed, where);
        return mapping.HfTensors.Select(t => new TensorMeta(t.Name, DType.BF16, t.Shape)).ToList();
    }
}
