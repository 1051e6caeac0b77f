using MegatronBridge.Conversion;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models.Blocks;

/// <summary>The two vocabulary-sized ends of a GPT model: the word embeddings and the output layer.</summary>
internal static class LanguageModelEnds
{
    /// <summary><c>embedding.word_embeddings.weight</c>, vocabulary x hidden.</summary>
    public static void Embedding(ModuleScope model, GptModelProvider p) =>
        model.Param("embedding.word_embeddings.weight", new TensorShape(p.VocabSize, p.HiddenSize));

    /// <summary><c>output_layer.weight</c>, unless the output layer shares the embedding's weight.</summary>
    public static void OutputLayer(ModuleScope model, GptModelProvider p)
    {
        if (!p.ShareEmbeddingsAndOutputWeights) model.Param("output_layer.weight", new TensorShape(p.VocabSize, p.HiddenSize));
    }
}
