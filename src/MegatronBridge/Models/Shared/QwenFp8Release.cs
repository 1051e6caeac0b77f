using MegatronBridge.Tensors;

namespace MegatronBridge.Models.Shared;

/// <summary>
/// The tensors Qwen's FP8 releases (Qwen3.5 / Qwen3.6 / Qwen3-VL "-FP8") store as blockwise E4M3, which
/// <c>export --quantize fp8</c> quantizes when the --hf-model it follows is a bf16 one.
/// </summary>
internal static class QwenFp8Release
{
    private static readonly string[] KeptInBf16 =
    {
        "embed_tokens.", "lm_head.", "mtp.fc.", ".mlp.gate.", ".shared_expert_gate.",
        ".linear_attn.in_proj_a.", ".linear_attn.in_proj_b.", ".linear_attn.in_proj_ba.", ".linear_attn.conv1d.",
    };

    /// <summary>
    /// Every 2-D <c>.weight</c> of the language model and the MTP layers except the embeddings, the LM head, the MTP
    /// input projection (<c>mtp.fc</c>), the router (<c>mlp.gate</c>), the shared-expert gate and the small GDN
    /// projections (<c>in_proj_a</c>, <c>in_proj_b</c>, <c>in_proj_ba</c>) and <c>conv1d</c>; norms, <c>A_log</c> and
    /// <c>dt_bias</c> are not 2-D. The vision tower stays bf16. Packed 3-D expert tensors are written per expert first;
    /// any left 3-D (the Qwen3-VL hub's transposed packing) stay bf16.
    /// </summary>
    public static bool Quantizes(TensorMeta t)
    {
        var n = t.Name;
        if (t.Shape.Rank != 2 || !n.EndsWith(".weight", StringComparison.Ordinal)) return false;
        if (n.StartsWith(ModelPrefixes.HfVision, StringComparison.Ordinal) || n.StartsWith("visual.", StringComparison.Ordinal)) return false;
        return !KeptInBf16.Any(k => n.Contains(k, StringComparison.Ordinal));
    }
}
