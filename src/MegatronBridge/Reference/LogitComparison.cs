using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>How far computed values are from reference values.</summary>
internal readonly record struct Difference(double MaxAbs, double MeanAbs, int Count)
{
    public static Difference Of(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        if (actual.Length != expected.Length)
            throw new InvalidInputException($"cannot compare {actual.Length} values with {expected.Length} reference values");
        double max = 0, sum = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = Math.Abs((double)actual[i] - expected[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            sum += d;
            if (d > max) max = d;
        }
        return new Difference(max, actual.Length == 0 ? 0 : sum / actual.Length, actual.Length);
    }
}

/// <summary>The result of running one reference case.</summary>
internal sealed record CaseComparison(string Name, Difference Logits, Difference? ImageEmbeds, int[] ExpectedGreedy, int[] ActualGreedy)
{
    /// <summary>The logits the model computed (for comparing two models on the same case).</summary>
    public float[] ActualLogits { get; init; } = Array.Empty<float>();

    /// <summary>The image features the model computed, where the case has an image.</summary>
    public float[]? ActualImageEmbeds { get; init; }

    public bool GreedyMatches => ExpectedGreedy.AsSpan().SequenceEqual(ActualGreedy);

    public bool Passes(double tolerance) =>
        Logits.MaxAbs <= tolerance && (ImageEmbeds is null || ImageEmbeds.Value.MaxAbs <= tolerance) && GreedyMatches;

    /// <summary>
    /// Runs the model on the case's inputs: logits, image features where stored, and greedy tokens. A case without
    /// reference logits (inputs only, for comparing two models with <see cref="Between"/>) gets NaN differences.
    /// </summary>
    public static CaseComparison Run(ReferenceModel model, ReferenceCase c)
    {
        VisionOutput? encoded = c.Image is null ? null : model.EncodeImages(c.Image);
        var logits = model.Forward(c.InputIds, c.Image is null ? null : (c.Image, encoded!));
        return FromOutputs(model, c, logits, encoded?.ImageEmbeds);
    }

    /// <summary>
    /// The case's comparison from logits (and image features) the model already computed on its inputs; greedy
    /// tokens are decoded here.
    /// </summary>
    public static CaseComparison FromOutputs(ReferenceModel model, ReferenceCase c, float[] logits, float[]? imageEmbeds)
    {
        Difference? embeds = c.ImageEmbeds is null || imageEmbeds is null ? null : Difference.Of(imageEmbeds, c.ImageEmbeds);
        var greedy = Greedy.Generate(model, c.InputIds, c.GreedyTokens.Length, c.Image);
        var difference = c.Logits.Length == 0 ? new Difference(double.NaN, double.NaN, 0) : Difference.Of(logits, c.Logits);
        return new CaseComparison(c.Name, difference, embeds, c.GreedyTokens, greedy)
        {
            ActualLogits = logits,
            ActualImageEmbeds = imageEmbeds,
        };
    }

    /// <summary>How far model B's results on a case are from model A's (A's outputs stand as the expected ones).</summary>
    public static CaseComparison Between(CaseComparison a, CaseComparison b)
    {
        if (a.Name != b.Name) throw new ArgumentException($"cannot compare case {a.Name} with case {b.Name}");
        Difference? embeds = a.ActualImageEmbeds is not null && b.ActualImageEmbeds is not null ? Difference.Of(b.ActualImageEmbeds, a.ActualImageEmbeds) : null;
        return new CaseComparison(a.Name, Difference.Of(b.ActualLogits, a.ActualLogits), embeds, a.ActualGreedy, b.ActualGreedy);
    }
}
