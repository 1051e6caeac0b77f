namespace MegatronBridge.Reference;

/// <summary>
/// Rotary position tables. Text: (m)RoPE over the first 2F dims of each head, where frequency j takes its position
/// from the T, H or W row of the 3-row position ids as mrope_section says (interleaved THWTHW... or in blocks).
/// Vision: 2-D rotary, frequencies of the row index then of the column index.
/// </summary>
internal sealed class RopeTable
{
    private RopeTable(float[] cos, float[] sin, int tokens, int frequencies)
    {
        Cos = cos;
        Sin = sin;
        Tokens = tokens;
        Frequencies = frequencies;
    }

    /// <summary>[tokens, frequencies] cosines of the angles (the second half of the rotary dims repeats them).</summary>
    public float[] Cos { get; }
    public float[] Sin { get; }
    public int Tokens { get; }
    public int Frequencies { get; }
    public int RotaryDims => 2 * Frequencies;

    /// <summary>inv_freq[j] = 1 / theta^(2j / (2F)), in float32 as transformers computes it.</summary>
    public static float[] InverseFrequencies(double theta, int frequencies)
    {
        var inv = new float[frequencies];
        int dim = 2 * frequencies;
        for (int j = 0; j < frequencies; j++) inv[j] = 1f / MathF.Pow((float)theta, (float)(2 * j) / dim);
        return inv;
    }

    /// <summary>Which position row (0 = T, 1 = H, 2 = W) feeds each frequency.</summary>
    public static int[] SectionOfFrequency(int frequencies, IReadOnlyList<int>? mropeSection, bool interleaved)
    {
        var rows = new int[frequencies];
        if (mropeSection is null) return rows;
        if (interleaved)
        {
            // T everywhere, then H at 1, 4, 7, ... below 3*section[1] and W at 2, 5, 8, ... below 3*section[2].
            for (int axis = 1; axis <= 2; axis++)
                for (int j = axis; j < Math.Min(frequencies, 3 * mropeSection[axis]); j += 3) rows[j] = axis;
        }
        else
        {
            int j = 0;
            for (int axis = 0; axis < 3; axis++)
                for (int k = 0; k < mropeSection[axis] && j < frequencies; k++) rows[j++] = axis;
        }
        return rows;
    }

    /// <summary>Text table from 3-row position ids [3][tokens].</summary>
    public static RopeTable ForText(int[][] positions, double theta, int frequencies, IReadOnlyList<int>? mropeSection, bool interleaved)
    {
        int tokens = positions[0].Length;
        var inv = InverseFrequencies(theta, frequencies);
        var section = SectionOfFrequency(frequencies, mropeSection, interleaved);
        var cos = new float[tokens * frequencies];
        var sin = new float[tokens * frequencies];
        for (int t = 0; t < tokens; t++)
        {
            for (int j = 0; j < frequencies; j++)
            {
                float angle = positions[section[j]][t] * inv[j];
                cos[t * frequencies + j] = (float)Math.Cos(angle);
                sin[t * frequencies + j] = (float)Math.Sin(angle);
            }
        }
        return new RopeTable(cos, sin, tokens, frequencies);
    }

    /// <summary>Vision table: head_dim/4 frequencies per axis; angles [h * inv ; w * inv].</summary>
    public static RopeTable ForVision(int[] rows, int[] cols, double theta, int headDim)
    {
        int perAxis = headDim / 4;
        var inv = InverseFrequencies(theta, perAxis);
        int frequencies = 2 * perAxis;
        int tokens = rows.Length;
        var cos = new float[tokens * frequencies];
        var sin = new float[tokens * frequencies];
        for (int t = 0; t < tokens; t++)
        {
            for (int j = 0; j < perAxis; j++)
            {
                float ah = rows[t] * inv[j], aw = cols[t] * inv[j];
                cos[t * frequencies + j] = (float)Math.Cos(ah);
                sin[t * frequencies + j] = (float)Math.Sin(ah);
                cos[t * frequencies + perAxis + j] = (float)Math.Cos(aw);
                sin[t * frequencies + perAxis + j] = (float)Math.Sin(aw);
            }
        }
        return new RopeTable(cos, sin, tokens, frequencies);
    }

    /// <summary>
    /// Rotates the first 2F dims of one head vector of token <paramref name="token"/> (rotate_half convention:
    /// pairs (i, i+F)); the remaining dims pass through.
    /// </summary>
    public void Apply(Span<float> head, int token)
    {
        int f = Frequencies;
        var c = Cos.AsSpan(token * f, f);
        var s = Sin.AsSpan(token * f, f);
        for (int i = 0; i < f; i++)
        {
            float x1 = head[i], x2 = head[i + f];
            head[i] = x1 * c[i] - x2 * s[i];
            head[i + f] = x2 * c[i] + x1 * s[i];
        }
    }
}
