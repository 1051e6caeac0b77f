using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// The language model of a Qwen3.5/3.6 VL checkpoint as the LM-only model sees it: HF names
/// <c>model.language_model.X</c> become <c>model.X</c>, the vision tower (<c>model.visual.*</c>) is dropped, and
/// <c>lm_head.weight</c> and <c>mtp.*</c> keep their names. The config is the VL config's <c>text_config</c> with the
/// LM-only architecture (as <see cref="BridgeRegistry.ForLanguageModelOnly"/> builds it).
/// </summary>
internal static class LanguageModelOnly
{
    private const string VlLanguagePrefix = ModelPrefixes.VlHfLanguage;
    private const string VisionPrefix = ModelPrefixes.HfVision;

    /// <summary>The LM-only name of a VL checkpoint tensor, or null for a vision tensor.</summary>
    public static string? ToLanguageOnlyName(string vlName) =>
        vlName.StartsWith(VisionPrefix, StringComparison.Ordinal) ? null
        : vlName.StartsWith(VlLanguagePrefix, StringComparison.Ordinal) ? ModelPrefixes.LmHfLanguage + vlName[VlLanguagePrefix.Length..]
        : vlName;

    /// <summary>The LM-only config.json of a VL config: text_config, architectures replaced, the VL dtype when text_config has none.</summary>
    public static JsonObject Config(HfConfig vlConfig)
    {
        var (bridge, _) = BridgeRegistry.ForLanguageModelOnly(vlConfig);
        var text = (JsonObject)vlConfig.Text.Json.DeepClone();
        var ordered = new JsonObject { ["architectures"] = new JsonArray(JsonValue.Create(bridge.Architecture)) };
        foreach (var (key, value) in text)
        {
            if (key != "architectures") ordered[key] = value?.DeepClone();
        }
        if (!text.ContainsKey("dtype") && !text.ContainsKey("torch_dtype") && vlConfig.DType is { } dtype) ordered["dtype"] = dtype;
        return ordered;
    }

    /// <summary>True when the config is a VL model that has a language-model-only bridge.</summary>
    public static bool IsAvailable(HfConfig config) =>
        BridgeRegistry.Resolve(config) is { IsVisionLanguage: true, LanguageModelOnlyArchitecture: not null };

    /// <summary>A VL checkpoint's tensors under LM-only names, vision tensors left out.</summary>
    public sealed class View(ITensorSource vl) : ITensorSource
    {
        private readonly Dictionary<string, (string VlName, TensorMeta Meta)> _byName = Build(vl);

        public string Description => vl.Description;
        public IReadOnlyList<TensorMeta> Tensors => _byName.Values.Select(v => v.Meta).ToList();

        public bool TryGet(string name, out TensorMeta meta)
        {
            bool found = _byName.TryGetValue(name, out var entry);
            meta = found ? entry.Meta : null!;
            return found;
        }

        public void Read(string name, long byteOffset, Span<byte> destination)
        {
            if (!_byName.TryGetValue(name, out var entry)) throw new InvalidInputException($"{Description}: no language-model tensor named '{name}'");
            vl.Read(entry.VlName, byteOffset, destination);
        }

        private static Dictionary<string, (string, TensorMeta)> Build(ITensorSource vl)
        {
            var result = new Dictionary<string, (string, TensorMeta)>(StringComparer.Ordinal);
            foreach (var t in vl.Tensors)
            {
                if (ToLanguageOnlyName(t.Name) is not { } name) continue;
                if (!result.TryAdd(name, (t.Name, t with { Name = name })))
                    throw new InvalidInputException($"{vl.Description}: '{t.Name}' and another tensor both become '{name}' in the language-model-only view");
            }
            return result;
        }
    }
}
