using System.Numerics.Tensors;

namespace MegatronBridge.Reference;

/// <summary>Greedy decoding: argmax of the last position, appended, repeated.</summary>
internal static class Greedy
{
    /// <summary>Prefill once, then one cached decode step per new token.</summary>
    public static int[] Generate(ReferenceModel model, IReadOnlyList<int> inputIds, int maxNewTokens, ImageInput? image = null)
    {
        if (maxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), "max new tokens must not be negative");
        var generated = new int[maxNewTokens];
        if (maxNewTokens == 0) return generated;
        int vocab = model.Config.Vocab;
        var (logits, cache) = model.Prefill(inputIds, image is null ? null : (image, model.EncodeImages(image)));
        generated[0] = ArgMax(logits.AsSpan((inputIds.Count - 1) * vocab, vocab));
        for (int step = 1; step < maxNewTokens; step++) generated[step] = ArgMax(model.DecodeStep(cache, generated[step - 1]));
        return generated;
    }

    /// <summary>The same by a full forward over the whole sequence for every new token (no cache).</summary>
    public static int[] GenerateByRecompute(ReferenceModel model, IReadOnlyList<int> inputIds, int maxNewTokens, ImageInput? image = null)
    {
        if (maxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), "max new tokens must not be negative");
        (ImageInput, VisionOutput)? encoded = image is null ? null : (image, model.EncodeImages(image));
        var sequence = new List<int>(inputIds);
        var generated = new int[maxNewTokens];
        int vocab = model.Config.Vocab;
        for (int step = 0; step < maxNewTokens; step++)
        {
            var logits = model.Forward(sequence, encoded);
            int next = ArgMax(logits.AsSpan((sequence.Count - 1) * vocab, vocab));
            generated[step] = next;
            sequence.Add(next);
        }
        return generated;
    }

    /// <summary>Index of the largest value, the first one on ties (as torch.argmax).</summary>
    public static int ArgMax(ReadOnlySpan<float> values) => TensorPrimitives.IndexOfMax(values);
}
