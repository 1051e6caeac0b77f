using MegatronBridge.Config;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// A VL checkpoint's tensors as its language-model-only counterpart names them, the tensors it leaves out (the vision
/// tower) hidden. The renaming is the bridge registration's (<see cref="LanguageModelOnlyCounterpart"/>); this view
/// only applies it, reading each tensor from the VL checkpoint under its original name.
/// </summary>
internal sealed class LanguageModelOnlyView : ITensorSource
{
    private readonly ITensorSource _vl;
    private readonly Dictionary<string, (string VlName, TensorMeta Meta)> _byName;

    public LanguageModelOnlyView(ITensorSource vl, LanguageModelOnlyCounterpart counterpart)
    {
        _vl = vl;
        _byName = Build(vl, counterpart);
    }

    /// <summary>The view for the VL model <paramref name="vlConfig"/> describes (refused for a bridge without an LM-only counterpart).</summary>
    public LanguageModelOnlyView(ITensorSource vl, HfConfig vlConfig) : this(vl, BridgeRegistry.LanguageModelOnly(vlConfig).Counterpart) { }

    public string Description => _vl.Description;
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
        _vl.Read(entry.VlName, byteOffset, destination);
    }

    private static Dictionary<string, (string, TensorMeta)> Build(ITensorSource vl, LanguageModelOnlyCounterpart counterpart)
    {
        var result = new Dictionary<string, (string, TensorMeta)>(StringComparer.Ordinal);
        foreach (var t in vl.Tensors)
        {
            if (counterpart.HfName(t.Name) is not { } name) continue;
            if (!result.TryAdd(name, (t.Name, t with { Name = name })))
                throw new InvalidInputException($"{vl.Description}: '{t.Name}' and another tensor both become '{name}' in the language-model-only view");
        }
        return result;
    }
}
