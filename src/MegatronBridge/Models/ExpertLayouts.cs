using MegatronBridge.Conversion;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models;

/// <summary>
/// How the HF checkpoint stores routed experts, separately for the decoder and for MTP (Qwen3.5: decoder packed, MTP
/// per expert; Qwen3.6: both packed). Detected from the checkpoint's keys and written back as read.
/// </summary>
internal sealed record ExpertLayouts(ExpertLayout Decoder, ExpertLayout Mtp)
{
    /// <summary>Without a checkpoint (config only) per-expert tensors are assumed, as Megatron-Bridge's
    /// <c>moe_experts_stored_packed</c> does.</summary>
    public static ExpertLayouts Default { get; } = new(ExpertLayout.PerExpert, ExpertLayout.PerExpert);

    /// <summary>Packed experts (<c>experts.gate_up_proj</c> / <c>experts.down_proj</c>) in the decoder and in MTP: the
    /// layout of transformers' Qwen3.5/3.6 MoE expert modules, which Qwen3.6 releases use for MTP as well.</summary>
    public static ExpertLayouts Packed { get; } = new(ExpertLayout.Packed, ExpertLayout.Packed);

    /// <param name="hfLayersPrefix">"model.language_model.layers." (VL) or "model.layers." (LM only).</param>
    public static ExpertLayouts Detect(IReadOnlyList<TensorMeta> tensors, string hfLayersPrefix, long hidden, string where) =>
        new(ExpertLayoutDetector.Detect(tensors, hfLayersPrefix, hidden, where),
            ExpertLayoutDetector.Detect(tensors, "mtp.layers.", hidden, where));
}
