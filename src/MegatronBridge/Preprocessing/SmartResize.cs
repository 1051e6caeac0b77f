using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// transformers' <c>smart_resize</c> for the Qwen2-VL family: both sides become multiples of <c>factor</c>, the pixel
/// count lands within [minPixels, maxPixels], and the aspect ratio stays as close as the rounding allows.
/// Same arithmetic as Python (double division, round half to even, floor/ceil), so sizes agree exactly.
/// </summary>
internal static class SmartResize
{
    /// <summary>The largest long side / short side ratio transformers accepts.</summary>
    public const double MaxAspectRatio = 200;

    public static (int Height, int Width) Compute(int height, int width, int factor, long minPixels, long maxPixels)
    {
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"image size {width}x{height} must be positive");
        if (factor <= 0) throw new ArgumentOutOfRangeException(nameof(factor), $"factor must be positive, got {factor}");
        double ratio = (double)Math.Max(height, width) / Math.Min(height, width);
        if (ratio > MaxAspectRatio)
            throw new InvalidInputException($"image {width}x{height}: absolute aspect ratio must be at most {MaxAspectRatio}, got {ratio}");

        // Python's round() rounds half to even, as Math.Round does by default.
        long hBar = (long)Math.Round((double)height / factor) * factor;
        long wBar = (long)Math.Round((double)width / factor) * factor;
        if (hBar * wBar > maxPixels)
        {
            double beta = Math.Sqrt((double)height * width / maxPixels);
            hBar = Math.Max(factor, (long)Math.Floor(height / beta / factor) * factor);
            wBar = Math.Max(factor, (long)Math.Floor(width / beta / factor) * factor);
        }
        else if (hBar * wBar < minPixels)
        {
            double beta = Math.Sqrt((double)minPixels / ((double)height * width));
            hBar = (long)Math.Ceiling(height * beta / factor) * factor;
            wBar = (long)Math.Ceiling(width * beta / factor) * factor;
        }
        // A tiny side can round to 0 (e.g. 10 px with factor 32) without tripping either bound; transformers would
        // fail later on an empty resize, so say so here.
        if (hBar <= 0 || wBar <= 0 || hBar > int.MaxValue || wBar > int.MaxValue)
            throw new InvalidInputException($"image {width}x{height}: cannot be resized to a multiple of {factor} (got {wBar}x{hBar})");
        return ((int)hBar, (int)wBar);
    }
}
