using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models;

/// <summary>Puts a bridge, its provider and an HF checkpoint's keys together into a <see cref="ModelMapping"/>.</summary>
internal static class BridgeMappings
{
    /// <summary>
    /// The mapping for a checkpoint whose tensors are <paramref name="hfTensors"/> (used to detect the expert layouts
    /// of the decoder and of MTP; pass none for a config-only mapping with per-expert tensors).
    /// </summary>
    public static ModelMapping Create(BridgeRegistration bridge, GptModelProvider provider, IReadOnlyList<TensorMeta> hfTensors, string where)
    {
        var layouts = bridge.IsMoe
            ? ExpertLayouts.Detect(hfTensors, bridge.HfLanguagePrefix + "layers.", provider.HiddenSize, where)
            : ExpertLayouts.Default;
        return Create(bridge, provider, layouts, where);
    }

    /// <summary>The mapping for checkpoints whose routed experts are stored as <paramref name="layouts"/> says
    /// (chosen by the caller, e.g. for a checkpoint not written yet; ignored by dense bridges).</summary>
    public static ModelMapping Create(BridgeRegistration bridge, GptModelProvider provider, ExpertLayouts layouts, string where)
    {
        var factory = bridge.CreateMappingTable
                      ?? throw new InvalidInputException($"{where}: {bridge.BridgeName} has no weight mapping table");
        return ModelMapping.Create(provider, factory(layouts), bridge.MegatronLanguagePrefix, bridge.ModelTree);
    }

    /// <summary>Reads config.json of an HF folder, dispatches the bridge and builds the mapping against its checkpoint.</summary>
    public static (BridgeRegistration Bridge, ModelMapping Mapping) ForHfFolder(string folder, ITensorSource checkpoint)
    {
        var config = HfConfig.LoadFromFolder(folder);
        var (bridge, provider) = BridgeRegistry.CreateProvider(config);
        return (bridge, Create(bridge, provider, checkpoint.Tensors, folder));
    }
}
