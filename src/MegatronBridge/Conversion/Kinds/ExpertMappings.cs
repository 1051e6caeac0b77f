using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Kinds;

/// <summary>
/// Routed experts (Megatron-Bridge's <c>FusedGatedExpertMapping</c> / <c>FusedExpertMapping</c>; docs/mappings.md,
/// Routed experts): Megatron grouped-GEMM weights <c>linear_fc1.weight{e}</c> [2I, H] and <c>linear_fc2.weight{e}</c>
/// [H, I] from any of the three HF layouts. Per-expert tensors use the plain gated-MLP and row mappings; packed tensors
/// are read through a view of expert e (transposed for the hub layout), so several mappings share one HF tensor and its
/// export recipe is assembled from all experts.
/// </summary>
internal static class ExpertMappings
{
    /// <param name="gateOrPacked">per-expert: the gate_proj name; packed: the gate_up_proj name.</param>
    /// <param name="up">per-expert: the up_proj name; packed: ignored.</param>
    public static MappingKind Fc1(MegatronParam p, ExpertLayout layout, int expert, int numExperts, string gateOrPacked, string? up)
    {
        if (p.Shape.Rank != 2 || p.Shape[0] % 2 != 0) throw new InvalidInputException($"{p.Name}: expert fc1 has shape {p.Shape}, expected [2I, H]");
        long twoI = p.Shape[0], h = p.Shape[1], i = twoI / 2;
        if (layout == ExpertLayout.PerExpert)
            return GatedMlpMapping.Of(p, gateOrPacked, up ?? throw new ArgumentNullException(nameof(up)));
        CheckExpert(p, expert, numExperts);
        var decl = layout == ExpertLayout.Packed
            ? new HfTensorDecl(gateOrPacked, new TensorShape(numExperts, twoI, h))
            : new HfTensorDecl(gateOrPacked, new TensorShape(numExperts, h, twoI));
        var view = StridedView.Contiguous(decl.Shape).Select(0, expert);
        if (layout == ExpertLayout.PackedTransposed) view = view.Transpose(0, 1);
        var gate = new HfRef(gateOrPacked, view.Narrow(0, 0, i));
        var upRef = new HfRef(gateOrPacked, view.Narrow(0, i, i));
        return new GatedMlpMapping(p, gate, upRef, new[] { decl }, "FusedGatedExpert");
    }

    public static MappingKind Fc2(MegatronParam p, ExpertLayout layout, int expert, int numExperts, string down)
    {
        if (p.Shape.Rank != 2) throw new InvalidInputException($"{p.Name}: expert fc2 has shape {p.Shape}, expected [H, I]");
        if (layout == ExpertLayout.PerExpert) return DirectMapping.Row(p, down);
        CheckExpert(p, expert, numExperts);
        long h = p.Shape[0], i = p.Shape[1];
        var decl = layout == ExpertLayout.Packed
            ? new HfTensorDecl(down, new TensorShape(numExperts, h, i))
            : new HfTensorDecl(down, new TensorShape(numExperts, i, h));
        var view = StridedView.Contiguous(decl.Shape).Select(0, expert);
        if (layout == ExpertLayout.PackedTransposed) view = view.Transpose(0, 1);
        return new DirectMapping(p, new HfRef(down, view), TpSplit.Dim1, decl, "FusedExpert");
    }

    private static void CheckExpert(MegatronParam p, int expert, int numExperts)
    {
        if (expert < 0 || expert >= numExperts)
            throw new InvalidInputException($"{p.Name}: expert {expert} outside [0, {numExperts})");
    }
}
