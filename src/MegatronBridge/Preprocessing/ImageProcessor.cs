using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// The Qwen2-VL-family image processor (Qwen3-VL, Qwen3.5, Qwen3.6): decode, convert to RGB, smart-resize to
/// multiples of patch * merge within [min_pixels, max_pixels], antialiased 8-bit resample, rescale and normalise,
/// repeat to the temporal patch size, and patchify. Mirrors transformers 5's default (torchvision-backed) processor;
/// <see cref="ResampleArithmetic.Pillow"/> mirrors its PIL backend.
/// </summary>
internal sealed class ImageProcessor
{
    public ImageProcessor(ImageProcessorConfig config, ResampleArithmetic arithmetic = ResampleArithmetic.Torchvision)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate("image processor config");
        Config = config;
        Arithmetic = arithmetic;
    }

    public ImageProcessorConfig Config { get; }
    public ResampleArithmetic Arithmetic { get; }

    /// <summary>Reads preprocessor_config.json (or processor_config.json) from a model or processor folder.</summary>
    public static ImageProcessor FromFolder(string folder, ResampleArithmetic arithmetic = ResampleArithmetic.Torchvision) =>
        new(ImageProcessorConfig.FromFolder(folder), arithmetic);

    /// <summary>The size an image of this size is resized to (height, width), as <c>smart_resize</c> gives it.</summary>
    public (int Height, int Width) TargetSize(int height, int width) => Config.DoResize
        ? SmartResize.Compute(height, width, Config.Factor, Config.MinPixels, Config.MaxPixels)
        : (height, width);

    /// <summary>
    /// The patch grid and prompt token count an image of this size will get, without touching pixels (what
    /// transformers' get_number_of_image_patches answers, divided by merge^2 for tokens).
    /// </summary>
    public GridThw GridFor(int height, int width)
    {
        var (h, w) = TargetSize(height, width);
        return new GridThw(1, h / Config.PatchSize, w / Config.PatchSize);
    }

    public int NumImageTokens(int height, int width) => GridFor(height, width).NumTokens(Config.MergeSize);

    public ProcessedImage Process(string imagePath)
    {
        var image = ImageDecoder.Load(imagePath);
        try
        {
            return Process(image);
        }
        catch (InvalidInputException e)
        {
            throw new InvalidInputException($"{imagePath}: {e.Message}", e);
        }
    }

    /// <summary>Several images for one prompt, stacked as transformers returns them.</summary>
    public ProcessedBatch ProcessBatch(IEnumerable<string> imagePaths)
    {
        ArgumentNullException.ThrowIfNull(imagePaths);
        return ProcessedBatch.Concatenate(imagePaths.Select(Process).ToList());
    }

    public ProcessedImage Process(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (height, width) = TargetSize(image.Height, image.Width);
        if (!Config.DoResize && (height % Config.Factor != 0 || width % Config.Factor != 0))
            throw new InvalidInputException($"image {width}x{height}: do_resize is off and the size is not a multiple of {Config.Factor}");
        var resized = height == image.Height && width == image.Width
            ? image
            : AntialiasResampler.Resize(image, width, height, Config.Resample, Arithmetic);

        var planes = Normalize(resized);
        var values = Patchifier.Patchify(planes, RgbImage.Channels, height, width,
            Config.PatchSize, Config.TemporalPatchSize, Config.MergeSize, out var grid);
        return new ProcessedImage(values, RgbImage.Channels * Config.TemporalPatchSize * Config.PatchSize * Config.PatchSize,
            grid, height, width);
    }

    /// <summary>
    /// (H, W, 3) bytes to (3, H, W) floats. With both rescale and normalise on, transformers' torchvision backend fuses
    /// them into one normalise with mean/rescale and std/rescale in float32; doing the same keeps the last bit equal.
    /// A byte has 256 values, so each channel's mapping is a lookup table computed once with that exact arithmetic.
    /// </summary>
    private float[] Normalize(RgbImage image)
    {
        var tables = new float[3][];
        bool fused = Config.DoRescale && Config.DoNormalize;
        bool rescaleOnly = Config.DoRescale && !Config.DoNormalize;
        float inverseRescale = (float)(1.0 / Config.RescaleFactor);
        float rescale = (float)Config.RescaleFactor;
        for (int c = 0; c < 3; c++)
        {
            float mean = Config.DoNormalize ? Config.ImageMean[c] : 0f;
            float std = Config.DoNormalize ? Config.ImageStd[c] : 1f;
            if (fused)
            {
                mean *= inverseRescale;
                std *= inverseRescale;
            }
            var table = tables[c] = new float[256];
            for (int v = 0; v < 256; v++) table[v] = rescaleOnly ? v * rescale : (v - mean) / std;
        }

        int plane = image.Width * image.Height;
        var output = new float[3L * plane];
        var pixels = image.Pixels;
        var (red, green, blue) = (tables[0], tables[1], tables[2]);
        for (int i = 0; i < plane; i++)
        {
            output[i] = red[pixels[3 * i]];
            output[plane + i] = green[pixels[3 * i + 1]];
            output[2 * plane + i] = blue[pixels[3 * i + 2]];
        }
        return output;
    }
}
