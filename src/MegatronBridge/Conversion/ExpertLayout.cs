using System.Text.RegularExpressions;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>How an HF checkpoint stores routed experts (docs/mappings.md, Routed experts).</summary>
public enum ExpertLayout
{
    /// <summary><c>experts.{e}.gate_proj/up_proj/down_proj.weight</c> per expert.</summary>
    PerExpert,
    /// <summary><c>experts.gate_up_proj</c> [E, 2I, H] (rows [gate; up]) and <c>experts.down_proj</c> [E, H, I] (Qwen3.5/3.6).</summary>
    Packed,
    /// <summary>The Qwen3-VL-MoE hub layout: <c>gate_up_proj</c> [E, H, 2I], <c>down_proj</c> [E, I, H].</summary>
    PackedTransposed,
}

/// <summary>Finds the expert layout of one key prefix (decoder layers or MTP layers) from the checkpoint's tensors.</summary>
internal static class ExpertLayoutDetector
{
    /// <param name="layersPrefix">e.g. "model.language_model.layers.", "model.layers." or "mtp.layers."</param>
    /// <param name="hidden">H, to tell [E, 2I, H] from [E, H, 2I].</param>
    /// <returns>The layout; <see cref="ExpertLayout.PerExpert"/> when no expert tensor is present (Megatron-Bridge's
    /// default too).</returns>
    public static ExpertLayout Detect(IEnumerable<TensorMeta> tensors, string layersPrefix, long hidden, string where)
    {
        var p = Regex.Escape(layersPrefix);
        var perExpert = new Regex($@"^{p}\d+\.mlp\.experts\.\d+\.(gate|up|down)_proj\.weight$", RegexOptions.CultureInvariant);
        var packed = new Regex($@"^{p}\d+\.mlp\.experts\.gate_up_proj$", RegexOptions.CultureInvariant);
        var packedDown = new Regex($@"^{p}\d+\.mlp\.experts\.down_proj$", RegexOptions.CultureInvariant);
        string? perExpertKey = null, packedKey = null;
        var orientations = new HashSet<ExpertLayout>();
        foreach (var t in tensors)
        {
            if (perExpert.IsMatch(t.Name)) perExpertKey ??= t.Name;
            else if (packed.IsMatch(t.Name) || packedDown.IsMatch(t.Name))
            {
                packedKey ??= t.Name;
                if (packed.IsMatch(t.Name)) orientations.Add(GateUpOrientation(t, hidden, where));
            }
        }
        if (perExpertKey != null && packedKey != null)
            throw new InvalidInputException($"{where}: experts under '{layersPrefix}' are stored both per expert ({perExpertKey}) and packed ({packedKey})");
        if (packedKey == null) return ExpertLayout.PerExpert;
        if (orientations.Count > 1)
            throw new InvalidInputException($"{where}: packed experts under '{layersPrefix}' mix the [E, 2I, H] and [E, H, 2I] layouts");
        if (orientations.Count == 0)
            throw new InvalidInputException($"{where}: packed expert down_proj under '{layersPrefix}' without gate_up_proj");
        return orientations.First();
    }

    private static ExpertLayout GateUpOrientation(TensorMeta t, long hidden, string where)
    {
        if (t.Shape.Rank != 3) throw new InvalidInputException($"{where}: {t.Name} has shape {t.Shape}, expected [E, 2I, H] or [E, H, 2I]");
        bool rowsFirst = t.Shape[2] == hidden, hiddenFirst = t.Shape[1] == hidden;
        if (rowsFirst && hiddenFirst)
            throw new InvalidInputException($"{where}: {t.Name} has shape {t.Shape}: 2I equals H, so [E, 2I, H] and [E, H, 2I] cannot be told apart");
        if (rowsFirst) return ExpertLayout.Packed;
        if (hiddenFirst) return ExpertLayout.PackedTransposed;
        throw new InvalidInputException($"{where}: {t.Name} has shape {t.Shape}, neither [E, 2I, {hidden}] nor [E, {hidden}, 2I]");
    }
}
