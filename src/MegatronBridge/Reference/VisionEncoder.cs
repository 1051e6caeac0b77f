using System.Numerics.Tensors;
using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>The vision encoder's results: merged image features and, for Qwen3-VL, the deepstack features.</summary>
internal sealed record VisionOutput(float[] ImageEmbeds, int Tokens, IReadOnlyList<float[]> Deepstack);

/// <summary>
/// Qwen3-VL / Qwen3.5 vision tower. Patches arrive in spatial-merge-block order (each m x m window contiguous, as
/// the image processor emits them): Conv3d patch embedding as a matmul over flattened [C, T, P, P] patches, learned
/// position table resampled bilinearly (align_corners) to the grid, 2-D rotary attention within each frame, blocks
/// of LayerNorm / attention / LayerNorm / GELU MLP (tanh form unless hidden_act is gelu), then the m x m patch merger (and deepstack mergers).
/// </summary>
internal static class VisionEncoder
{
    private const float LayerNormEps = 1e-6f;

    /// <summary>Where <see cref="Steps"/> leaves the encoder's output once the last step has run.</summary>
    public sealed class Result
    {
        public VisionOutput? Output { get; set; }
    }

    public static VisionOutput Forward(float[] pixelValues, IReadOnlyList<ImageGrid> grids, VisionWeights w, VisionDims v)
    {
        var result = new Result();
        foreach (var _ in Steps(pixelValues, grids, w, v, result)) { }
        return result.Output!;
    }

    /// <summary>
    /// The encoder one block at a time: the patch embedding (with positions), each block's output, each deepstack
    /// merger's and the final merger's features; the output goes to <paramref name="result"/> after the last step.
    /// </summary>
    public static IEnumerable<ForwardStep> Steps(float[] pixelValues, IReadOnlyList<ImageGrid> grids, VisionWeights w, VisionDims v, Result result)
    {
        int patches = 0;
        foreach (var g in grids)
        {
            g.Validate(v.SpatialMergeSize, "vision encoder");
            patches += g.Patches;
        }
        if (pixelValues.Length != (long)patches * v.PatchValues)
            throw new InvalidInputException($"pixel values hold {pixelValues.Length} numbers; the grids need {patches} patches x {v.PatchValues}");

        var hidden = Linear.Apply(pixelValues, patches, w.PatchEmbed, w.PatchEmbedBias);
        var (rows, cols) = PatchCoordinates(grids, v.SpatialMergeSize);
        AddPositionEmbedding(hidden, rows, cols, grids, w.PositionEmbedding, v);
        var rope = RopeTable.ForVision(rows, cols, v.RopeTheta, v.HeadDim);
        yield return new ForwardStep(ForwardStages.VisionPatchEmbedding, 0, hidden);

        var deepstack = new List<float[]>();
        for (int layer = 0; layer < w.Blocks.Count; layer++)
        {
            Block(hidden, patches, grids, w.Blocks[layer], v, rope);
            yield return new ForwardStep(ForwardStages.VisionBlock, layer, hidden);
            int ds = IndexOf(v.DeepstackIndexes, layer);
            if (ds >= 0 && ds < w.DeepstackMergers.Count)
            {
                deepstack.Add(Merge(hidden, patches, w.DeepstackMergers[ds], v));
                yield return new ForwardStep(ForwardStages.DeepstackMerger, ds, deepstack[^1]);
            }
        }
        var merged = Merge(hidden, patches, w.Merger, v);
        yield return new ForwardStep(ForwardStages.VisionMerger, 0, merged);
        result.Output = new VisionOutput(merged, patches / v.MergeUnit, deepstack);
    }

    private static int IndexOf(IReadOnlyList<int> list, int value)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == value) return i;
        return -1;
    }

    /// <summary>(row, col) of every patch in merge-block order: block row, block col, row in block, col in block.</summary>
    public static (int[] Rows, int[] Cols) PatchCoordinates(IReadOnlyList<ImageGrid> grids, int merge)
    {
        int total = grids.Sum(g => g.Patches);
        var rows = new int[total];
        var cols = new int[total];
        int n = 0;
        foreach (var g in grids)
        {
            for (int t = 0; t < g.T; t++)
                for (int br = 0; br < g.H / merge; br++)
                    for (int bc = 0; bc < g.W / merge; bc++)
                        for (int ir = 0; ir < merge; ir++)
                            for (int ic = 0; ic < merge; ic++)
                            {
                                rows[n] = br * merge + ir;
                                cols[n] = bc * merge + ic;
                                n++;
                            }
        }
        return (rows, cols);
    }

    /// <summary>Bilinear resampling of the square learned table to each grid (taps clamped to the table), added per patch.</summary>
    private static void AddPositionEmbedding(float[] hidden, int[] rows, int[] cols, IReadOnlyList<ImageGrid> grids, Matrix table, VisionDims v)
    {
        int side = (int)Math.Round(Math.Sqrt(v.NumPositionEmbeddings));
        int d = v.Hidden;
        int n = 0;
        var sum = new float[d];
        foreach (var g in grids)
        {
            for (int p = 0; p < g.Patches; p++, n++)
            {
                var (h0, h1, hw0, hw1) = Taps(rows[n], g.H, side, v.PositionAlignCorners);
                var (w0, w1, ww0, ww1) = Taps(cols[n], g.W, side, v.PositionAlignCorners);
                var dst = hidden.AsSpan(n * d, d);
                ReadOnlySpan<(int Index, float Weight)> taps =
                [
                    (h0 * side + w0, hw0 * ww0), (h0 * side + w1, hw0 * ww1),
                    (h1 * side + w0, hw1 * ww0), (h1 * side + w1, hw1 * ww1),
                ];
                Array.Clear(sum);
                foreach (var (index, weight) in taps)
                {
                    var row = table.Row(index); // the position table is held in memory: a view
                    for (int i = 0; i < d; i++) sum[i] += row[i] * weight;
                }
                for (int i = 0; i < d; i++) dst[i] += sum[i];
            }
        }
    }

    private static (int Lo, int Hi, float WeightLo, float WeightHi) Taps(int index, int size, int side, bool alignCorners)
    {
        float src = alignCorners
            ? index * (float)(side - 1) / Math.Max(size - 1, 1)
            : (index + 0.5f) * side / size - 0.5f; // half-pixel centres
        float floor = MathF.Floor(src);
        int lo = Math.Clamp((int)floor, 0, side - 1);
        int hi = Math.Clamp((int)floor + 1, 0, side - 1);
        float wLo = Math.Max(0f, 1f - Math.Abs(src - floor));
        float wHi = Math.Max(0f, 1f - Math.Abs(src - floor - 1f));
        return (lo, hi, wLo, wHi);
    }

    private static void Block(float[] hidden, int patches, IReadOnlyList<ImageGrid> grids, VisionBlockWeights b, VisionDims v, RopeTable rope)
    {
        var normed = (float[])hidden.Clone();
        Norms.LayerNormInPlace(normed, b.Norm1Weight, b.Norm1Bias, LayerNormEps);
        var attn = Attend(normed, patches, grids, b, v, rope);
        for (int i = 0; i < hidden.Length; i++) hidden[i] += attn[i];

        normed = (float[])hidden.Clone();
        Norms.LayerNormInPlace(normed, b.Norm2Weight, b.Norm2Bias, LayerNormEps);
        var mid = Linear.Apply(normed, patches, b.Fc1, b.Fc1Bias);
        if (v.MlpGeluTanh) Activations.GeluTanhInPlace(mid);
        else Activations.GeluErfInPlace(mid);
        var mlp = Linear.Apply(mid, patches, b.Fc2, b.Fc2Bias);
        for (int i = 0; i < hidden.Length; i++) hidden[i] += mlp[i];
    }

    /// <summary>Bidirectional attention within each frame (h*w patches).</summary>
    private static float[] Attend(float[] x, int patches, IReadOnlyList<ImageGrid> grids, VisionBlockWeights b, VisionDims v, RopeTable rope)
    {
        int d = v.Hidden, heads = v.Heads, hd = v.HeadDim;
        var parts = b.Qkv.Apply(x, patches);
        var q = parts[0];
        var k = parts[1];
        var val = parts[2];
        for (int t = 0; t < patches; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                rope.Apply(q.AsSpan(t * d + h * hd, hd), t);
                rope.Apply(k.AsSpan(t * d + h * hd, hd), t);
            }
        }

        var output = new float[patches * d];
        float scale = 1f / MathF.Sqrt(hd);
        int start = 0;
        foreach (var g in grids)
        {
            int frame = g.H * g.W;
            for (int f = 0; f < g.T; f++, start += frame)
            {
                int s0 = start;
                Parallel.For(0, heads, h =>
                {
                    var scores = new float[frame];
                    for (int i = 0; i < frame; i++)
                    {
                        var qi = q.AsSpan((s0 + i) * d + h * hd, hd);
                        for (int j = 0; j < frame; j++)
                            scores[j] = TensorPrimitives.Dot(qi, k.AsSpan((s0 + j) * d + h * hd, hd)) * scale;
                        TensorPrimitives.SoftMax(scores, scores);
                        var o = output.AsSpan((s0 + i) * d + h * hd, hd);
                        for (int j = 0; j < frame; j++) TensorPrimitives.MultiplyAdd(val.AsSpan((s0 + j) * d + h * hd, hd), scores[j], o, o);
                    }
                });
            }
        }
        return Linear.Apply(output, patches, b.Proj, b.ProjBias);
    }

    /// <summary>Patch merger: LayerNorm (per patch, or over the m*m concatenation), fc1, exact GELU, fc2.</summary>
    private static float[] Merge(float[] hidden, int patches, PatchMergerWeights m, VisionDims v)
    {
        int merged = patches / v.MergeUnit;
        var x = (float[])hidden.Clone();
        Norms.LayerNormInPlace(x, m.NormWeight, m.NormBias, LayerNormEps);
        var mid = Linear.Apply(x, merged, m.Fc1, m.Fc1Bias);
        Activations.GeluErfInPlace(mid);
        return Linear.Apply(mid, merged, m.Fc2, m.Fc2Bias);
    }
}
