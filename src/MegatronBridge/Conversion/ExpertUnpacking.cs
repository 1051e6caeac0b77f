using System.Text.RegularExpressions;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// The per-expert names of packed Qwen3.5 / Qwen3.6 expert tensors: <c>experts.gate_up_proj</c> [E, 2I, H] becomes
/// <c>experts.{e}.gate_proj.weight</c> and <c>experts.{e}.up_proj.weight</c> [I, H], <c>experts.down_proj</c>
/// [E, H, I] becomes <c>experts.{e}.down_proj.weight</c> [H, I]. Qwen's FP8 releases store experts this way (one
/// 2-D weight, with its block scales, per expert) even where the bf16 release packs them.
/// </summary>
internal static partial class ExpertUnpacking
{
    [GeneratedRegex(@"^(?<prefix>.+\.mlp\.experts\.)(?<which>gate_up_proj|down_proj)$", RegexOptions.CultureInvariant)]
    private static partial Regex PackedName();

    /// <summary><paramref name="tensors"/> with every packed [E, 2I, H] / [E, H, I] pair replaced by per-expert tensors, in place.</summary>
    public static IReadOnlyList<TensorMeta> ToPerExpert(IReadOnlyList<TensorMeta> tensors, long hidden)
    {
        var result = new List<TensorMeta>(tensors.Count);
        foreach (var t in tensors)
        {
            var m = PackedName().Match(t.Name);
            if (!m.Success || t.Shape.Rank != 3)
            {
                result.Add(t);
                continue;
            }
            string prefix = m.Groups["prefix"].Value;
            long experts = t.Shape[0];
            if (m.Groups["which"].Value == "gate_up_proj")
            {
                // Only the [E, 2I, H] orientation (Qwen3.5 / 3.6); the Qwen3-VL hub's [E, H, 2I] stays packed.
                if (t.Shape[2] != hidden || t.Shape[1] % 2 != 0) { result.Add(t); continue; }
                long inter = t.Shape[1] / 2;
                for (long e = 0; e < experts; e++)
                {
                    result.Add(new TensorMeta($"{prefix}{e}.gate_proj.weight", t.DType, new TensorShape(inter, hidden)));
                    result.Add(new TensorMeta($"{prefix}{e}.up_proj.weight", t.DType, new TensorShape(inter, hidden)));
                }
            }
            else
            {
                if (t.Shape[1] != hidden) { result.Add(t); continue; }
                for (long e = 0; e < experts; e++)
                    result.Add(new TensorMeta($"{prefix}{e}.down_proj.weight", t.DType, new TensorShape(hidden, t.Shape[2])));
            }
        }
        return result;
    }
}
