namespace MegatronBridge.Preprocessing;

/// <summary>
/// Antialiased separable resize of 8-bit RGB images, written to reproduce Pillow's / torchvision's uint8 resize
/// bit for bit: per output pixel, a filter window scaled by the reduction factor (so downscaling averages instead of
/// aliasing), weights normalised to sum 1, quantised to fixed point, a horizontal pass into an 8-bit intermediate
/// image, then a vertical pass. Bicubic uses Keys' cubic with a = -0.5 (as Pillow and torch's antialias path do).
/// </summary>
internal static class AntialiasResampler
{
    private const double CubicA = -0.5;
    private const int PillowPrecisionBits = 22;

    public static RgbImage Resize(RgbImage source, int width, int height, ResampleFilter filter,
        ResampleArithmetic arithmetic = ResampleArithmetic.Torchvision)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"target size {width}x{height} must be positive");

        // Each pass is skipped when its side does not change, as both libraries do (no filtering at scale 1).
        var current = source;
        if (width != source.Width)
        {
            var weights = ResampleWeights.Compute(source.Width, width, filter, arithmetic);
            current = ResampleHorizontal(current, weights);
        }
        if (height != source.Height)
        {
            var weights = ResampleWeights.Compute(source.Height, height, filter, arithmetic);
            current = ResampleVertical(current, weights);
        }
        return ReferenceEquals(current, source) ? new RgbImage(source.Width, source.Height, (byte[])source.Pixels.Clone()) : current;
    }

    private static RgbImage ResampleHorizontal(RgbImage source, ResampleWeights weights)
    {
        int outWidth = weights.OutputSize;
        var output = new byte[(long)source.Height * outWidth * RgbImage.Channels];
        var src = source.Pixels;
        int rounding = 1 << (weights.PrecisionBits - 1);
        for (int y = 0; y < source.Height; y++)
        {
            long srcRow = (long)y * source.Width * RgbImage.Channels;
            long dstRow = (long)y * outWidth * RgbImage.Channels;
            for (int x = 0; x < outWidth; x++)
            {
                int start = weights.Start[x], count = weights.Count[x];
                var w = weights.Row(x);
                int r = rounding, g = rounding, b = rounding;
                long p = srcRow + (long)start * RgbImage.Channels;
                for (int k = 0; k < count; k++, p += RgbImage.Channels)
                {
                    r += src[p] * w[k];
                    g += src[p + 1] * w[k];
                    b += src[p + 2] * w[k];
                }
                long d = dstRow + (long)x * RgbImage.Channels;
                output[d] = Clip8(r, weights.PrecisionBits);
                output[d + 1] = Clip8(g, weights.PrecisionBits);
                output[d + 2] = Clip8(b, weights.PrecisionBits);
            }
        }
        return new RgbImage(outWidth, source.Height, output);
    }

    private static RgbImage ResampleVertical(RgbImage source, ResampleWeights weights)
    {
        int outHeight = weights.OutputSize;
        int rowBytes = source.Width * RgbImage.Channels;
        var output = new byte[(long)outHeight * rowBytes];
        var src = source.Pixels;
        int rounding = 1 << (weights.PrecisionBits - 1);
        var sums = new int[rowBytes];
        for (int y = 0; y < outHeight; y++)
        {
            int start = weights.Start[y], count = weights.Count[y];
            var w = weights.Row(y);
            Array.Fill(sums, rounding);
            for (int k = 0; k < count; k++)
            {
                long srcRow = (long)(start + k) * rowBytes;
                int wk = w[k];
                for (int i = 0; i < rowBytes; i++) sums[i] += src[srcRow + i] * wk;
            }
            long dstRow = (long)y * rowBytes;
            for (int i = 0; i < rowBytes; i++) output[dstRow + i] = Clip8(sums[i], weights.PrecisionBits);
        }
        return new RgbImage(source.Width, outHeight, output);
    }

    // Arithmetic shift floors negative sums; the clamp then saturates, as both libraries' clip8 / packus do.
    private static byte Clip8(int sum, int precisionBits) => (byte)Math.Clamp(sum >> precisionBits, 0, 255);

    /// <summary>Keys' cubic convolution kernel with a = -0.5 (Pillow's and torch's antialias bicubic).</summary>
    internal static double Cubic(double x)
    {
        x = Math.Abs(x);
        if (x < 1.0) return ((CubicA + 2.0) * x - (CubicA + 3.0)) * x * x + 1.0;
        if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * CubicA;
        return 0.0;
    }

    internal static double Triangle(double x)
    {
        x = Math.Abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /// <summary>The fixed-point filter window of every output position along one axis.</summary>
    internal sealed class ResampleWeights
    {
        private readonly int[] _weights;
        private readonly int _stride;

        private ResampleWeights(int outputSize, int stride, int[] start, int[] count, int[] weights, int precisionBits)
        {
            OutputSize = outputSize;
            _stride = stride;
            Start = start;
            Count = count;
            _weights = weights;
            PrecisionBits = precisionBits;
        }

        public int OutputSize { get; }
        public int[] Start { get; }
        public int[] Count { get; }
        public int PrecisionBits { get; }
        public ReadOnlySpan<int> Row(int output) => _weights.AsSpan(output * _stride, Count[output]);

        public static ResampleWeights Compute(int inputSize, int outputSize, ResampleFilter filter, ResampleArithmetic arithmetic)
        {
            Func<double, double> kernel = filter switch
            {
                ResampleFilter.Bicubic => Cubic,
                ResampleFilter.Bilinear => Triangle,
                _ => throw new ArgumentOutOfRangeException(nameof(filter), $"resample filter {filter} is not supported"),
            };
            double kernelSupport = filter == ResampleFilter.Bicubic ? 2.0 : 1.0;

            double scale = (double)inputSize / outputSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = kernelSupport * filterScale;
            double invScale = 1.0 / filterScale;
            int maxTaps = (int)Math.Ceiling(support) * 2 + 1;

            var start = new int[outputSize];
            var count = new int[outputSize];
            var real = new double[(long)outputSize * maxTaps];
            double maxWeight = 0;
            for (int i = 0; i < outputSize; i++)
            {
                double center = scale * (i + 0.5);
                // (long) truncates toward zero, like the C casts in both libraries.
                long min = Math.Max((long)(center - support + 0.5), 0L);
                long size = Math.Min((long)(center + support + 0.5), inputSize) - min;
                size = Math.Clamp(size, 0, maxTaps);
                double total = 0;
                int row = i * maxTaps;
                for (int j = 0; j < size; j++)
                {
                    double w = kernel((j + min - center + 0.5) * invScale);
                    real[row + j] = w;
                    total += w;
                }
                for (int j = 0; j < size; j++)
                {
                    if (total != 0.0) real[row + j] /= total;
                    maxWeight = Math.Max(maxWeight, real[row + j]);
                }
                start[i] = (int)min;
                count[i] = (int)size;
            }

            int precision = arithmetic == ResampleArithmetic.Pillow ? PillowPrecisionBits : TorchPrecision(maxWeight);
            double unit = 1 << precision;
            var fixedPoint = new int[real.Length];
            for (int k = 0; k < real.Length; k++)
            {
                double v = real[k] * unit;
                fixedPoint[k] = v < 0 ? (int)(-0.5 + v) : (int)(0.5 + v);
            }
            return new ResampleWeights(outputSize, maxTaps, start, count, fixedPoint, precision);
        }

        // torch stops at the first precision whose next step would push the largest weight to 2^15 (int16 range).
        private static int TorchPrecision(double maxWeight)
        {
            int precision;
            for (precision = 0; precision < 22; precision++)
            {
                int next = (int)(0.5 + maxWeight * (1 << (precision + 1)));
                if (next >= (1 << 15)) break;
            }
            return precision;
        }
    }
}
