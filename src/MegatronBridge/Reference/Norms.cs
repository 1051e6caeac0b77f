namespace MegatronBridge.Reference;

/// <summary>How an RMSNorm applies its weight.</summary>
internal enum RmsNormStyle
{
    /// <summary>x̂ * w (Qwen3-VL, and the gated GDN output norm).</summary>
    Plain,
    /// <summary>x̂ * (1 + w): Qwen3.5 / 3.6 store zero-centred weights.</summary>
    ZeroCentered,
}

/// <summary>Row-wise normalisations in float32.</summary>
internal static class Norms
{
    /// <summary>RMSNorm over consecutive rows of <paramref name="weight"/>.Length values, in place.</summary>
    public static void RmsNormInPlace(Span<float> x, ReadOnlySpan<float> weight, float eps, RmsNormStyle style)
    {
        int d = weight.Length;
        if (d == 0 || x.Length % d != 0) throw new ArgumentException($"RMSNorm: {x.Length} values are not rows of {d}");
        float offset = style == RmsNormStyle.ZeroCentered ? 1f : 0f;
        for (int start = 0; start < x.Length; start += d)
        {
            var row = x.Slice(start, d);
            float scale = InverseRms(row, eps);
            for (int i = 0; i < d; i++) row[i] = row[i] * scale * (offset + weight[i]);
        }
    }

    /// <summary>
    /// Qwen3_5RMSNormGated: normalise each row, multiply by w (plain), then by silu(gate) of the same row.
    /// </summary>
    public static void GatedRmsNormInPlace(Span<float> x, ReadOnlySpan<float> gate, ReadOnlySpan<float> weight, float eps)
    {
        int d = weight.Length;
        if (x.Length % d != 0 || gate.Length != x.Length) throw new ArgumentException("gated RMSNorm: shapes disagree");
        for (int start = 0; start < x.Length; start += d)
        {
            var row = x.Slice(start, d);
            float scale = InverseRms(row, eps);
            for (int i = 0; i < d; i++) row[i] = weight[i] * (row[i] * scale) * Activations.Silu(gate[start + i]);
        }
    }

    /// <summary>nn.LayerNorm over rows of <paramref name="weight"/>.Length values, in place.</summary>
    public static void LayerNormInPlace(Span<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps)
    {
        int d = weight.Length;
        if (d == 0 || x.Length % d != 0 || bias.Length != d) throw new ArgumentException($"LayerNorm: {x.Length} values are not rows of {d}");
        for (int start = 0; start < x.Length; start += d)
        {
            var row = x.Slice(start, d);
            double mean = 0;
            for (int i = 0; i < d; i++) mean += row[i];
            mean /= d;
            double variance = 0;
            for (int i = 0; i < d; i++) variance += (row[i] - mean) * (row[i] - mean);
            variance /= d;
            float inv = (float)(1.0 / Math.Sqrt(variance + eps));
            for (int i = 0; i < d; i++) row[i] = (float)(row[i] - mean) * inv * weight[i] + bias[i];
        }
    }

    /// <summary>1 / sqrt(mean(x^2) + eps), the mean accumulated in double.</summary>
    public static float InverseRms(ReadOnlySpan<float> row, float eps)
    {
        double sum = 0;
        for (int i = 0; i < row.Length; i++) sum += (double)row[i] * row[i];
        return (float)(1.0 / Math.Sqrt((float)(sum / row.Length) + eps));
    }
}
