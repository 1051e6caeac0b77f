using MegatronBridge.Conversion;
using MegatronBridge.IO;
using MegatronBridge.Models.Blocks;
using MegatronBridge.Models.Shared;
using MegatronBridge.Providers;

namespace MegatronBridge.Models.Qwen35;

/// <summary>
/// The module tree of every Qwen3.5 / Qwen3.6 bridge (Megatron-Bridge's Qwen3.5 model: megatron-core's GPTModel with
/// the hybrid layer spec, inside the Qwen3-VL vision-language model for the VL bridges), top to bottom: the vision
/// encoder (VL only), the word embeddings, the decoder layers (a Gated DeltaNet or gated attention mixer as
/// <c>layer_types</c> says, then a dense MLP or a MoE), the final norm, the output layer (untied), and the MTP layers.
/// </summary>
internal static class Qwen35ModelTree
{
    public static IReadOnlyList<MegatronParam> Build(GptModelProvider p, string languagePrefix)
    {
        var tree = new ModuleTree();
        if (p.Vision is { } vision) Qwen3VLVisionTower.Add(tree, vision);

        var lm = tree.Scope(languagePrefix);
        LanguageModelEnds.Embedding(lm, p);
        var kinds = p.DecoderLayerKinds;
        for (int i = 0; i < p.NumLayers; i++)
        {
            var layer = TransformerBlock.Layer(lm, i, p.NumLayers, p.HetereogenousDistCheckpoint);
            if (kinds[i] == DecoderLayerKind.GatedDeltaNet) GatedDeltaNet.Add(layer, p);
            else Attention.Add(layer, AttentionSpec.Of(p));
            MlpOrMoe(layer, p, p.IsMoeLayer(i));
        }
        TransformerBlock.FinalNorm(lm, p.HiddenSize);
        LanguageModelEnds.OutputLayer(lm, p);

        if (p.MtpLayers > 0)
        {
            if (p.NumLayers == 0 || p.MtpLayerKind != DecoderLayerKind.Attention)
                throw new InvalidInputException("the MTP layer is built from the last decoder layer's spec, which must be an attention layer (a GDN MTP layer is not mapped by the bridge)");
            for (int k = 0; k < p.MtpLayers; k++)
                MtpLayer.Add(lm, p, k, inner =>
                {
                    Attention.Add(inner, AttentionSpec.Of(p));
                    MlpOrMoe(inner, p, p.MtpLayerIsMoe);
                });
        }
        return tree.Parameters;
    }

    private static void MlpOrMoe(ModuleScope layer, GptModelProvider p, bool moe)
    {
        if (moe) Moe.Add(layer, p);
        else Mlp.Add(layer, MlpSpec.Of(p));
    }
}
