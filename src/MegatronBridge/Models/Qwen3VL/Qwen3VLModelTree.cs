using MegatronBridge.Conversion;
using MegatronBridge.IO;
using MegatronBridge.Models.Blocks;
using MegatronBridge.Models.Shared;
using MegatronBridge.Providers;

namespace MegatronBridge.Models.Qwen3VL;

/// <summary>
/// The module tree of the Qwen3-VL bridges (Megatron-Bridge's Qwen3VLModel: the vision encoder with deepstack mergers
/// beside megatron-core's GPTModel), top to bottom: the vision encoder, the word embeddings, the decoder layers
/// (attention, then a dense MLP or a MoE), the final norm and the output layer (untied). Qwen3-VL has no linear
/// attention and no MTP block.
/// </summary>
internal static class Qwen3VLModelTree
{
    public static IReadOnlyList<MegatronParam> Build(GptModelProvider p, string languagePrefix)
    {
        if (p.MtpLayers > 0)
            throw new InvalidInputException($"the config asks for {p.MtpLayers} MTP layer(s) (mtp_num_hidden_layers / num_nextn_predict_layers), but the Qwen3-VL model has no MTP block");
        var tree = new ModuleTree();
        if (p.Vision is { } vision) Qwen3VLVisionTower.Add(tree, vision);

        var lm = tree.Scope(languagePrefix);
        LanguageModelEnds.Embedding(lm, p);
        for (int i = 0; i < p.NumLayers; i++)
        {
            var layer = TransformerBlock.Layer(lm, i, p.NumLayers, p.HetereogenousDistCheckpoint);
            Attention.Add(layer, AttentionSpec.Of(p));
            if (p.IsMoeLayer(i)) Moe.Add(layer, p);
            else Mlp.Add(layer, MlpSpec.Of(p));
        }
        TransformerBlock.FinalNorm(lm, p.HiddenSize);
        LanguageModelEnds.OutputLayer(lm, p);
        return tree.Parameters;
    }
}
