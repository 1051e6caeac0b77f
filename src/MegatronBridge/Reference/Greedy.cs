using System.Numerics.Tensors;

namespace MegatronBridge.Reference;

/// <summary>Greedy decoding by repeated full forward passes: argmax of the last position, appended, repeated.</summary>
public static class Greedy
{
    public static int[] Generate(ReferenceModel model, IReadOnlyList<int> inputIds, int maxNewTokens, ImageInput? image = null)
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
