using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>How far model B's state is from model A's after one step of the forward.</summary>
internal sealed record StepDifference(string Where, Difference Difference);

/// <summary>
/// Two forwards of one model from two layouts (HF and Megatron) run in lockstep, one sub-block at a time, with the
/// hidden states compared after every step: only the two layers being run are read from disk, and a mismatch is
/// pinned to the first layer and sub-block where the states part.
/// </summary>
internal sealed record SideBySide(IReadOnlyList<StepDifference> Steps, float[] LogitsA, float[] LogitsB, float[]? ImageEmbedsA, float[]? ImageEmbedsB)
{
    /// <summary>The first step whose max |Δ| exceeds <paramref name="tolerance"/> (NaN counts as infinite), or null.</summary>
    public StepDifference? FirstDivergence(double tolerance) => Steps.FirstOrDefault(s => !(s.Difference.MaxAbs <= tolerance));

    /// <summary>The step with the largest max |Δ|.</summary>
    public StepDifference Largest => Steps.MaxBy(s => s.Difference.MaxAbs)!;

    public static SideBySide Run(ReferenceModel a, ReferenceModel b, IReadOnlyList<int> inputIds, ImageInput? image = null)
    {
        if (a.Config.Layers != b.Config.Layers)
            throw new InvalidInputException($"cannot compare a {a.Config.Layers}-layer model with a {b.Config.Layers}-layer one");
        var steps = new List<StepDifference>();
        float[]? logitsA = null, logitsB = null, embedsA = null, embedsB = null;
        using var stepsA = a.Steps(inputIds, image).GetEnumerator();
        using var stepsB = b.Steps(inputIds, image).GetEnumerator();
        while (true)
        {
            bool moreA = stepsA.MoveNext(), moreB = stepsB.MoveNext();
            if (moreA != moreB)
                throw new InvalidInputException($"the two forwards end at different steps ({(moreA ? stepsA.Current.Where : "end")} vs {(moreB ? stepsB.Current.Where : "end")})");
            if (!moreA) break;
            var sa = stepsA.Current;
            var sb = stepsB.Current;
            if (sa.Stage != sb.Stage || sa.Index != sb.Index)
                throw new InvalidInputException($"the two forwards reach different steps: {sa.Where} vs {sb.Where}");
            steps.Add(new StepDifference(sa.Where, Difference.Of(sb.Values, sa.Values)));
            switch (sa.Stage)
            {
                case ForwardStages.VisionMerger:
                    (embedsA, embedsB) = (sa.Values, sb.Values);
                    break;
                case ForwardStages.Logits:
                    (logitsA, logitsB) = (sa.Values, sb.Values);
                    break;
            }
        }
        return new SideBySide(steps, logitsA!, logitsB!, embedsA, embedsB);
    }
}
