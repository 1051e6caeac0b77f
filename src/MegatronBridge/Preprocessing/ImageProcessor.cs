namespace MegatronBridge.Preprocessing;

/// <summary>
/// The Qwen2-VL-family image processor (Qwen3-VL, Qwen3.5, Qwen3.6): decode, convert to RGB, smart-resize to
/// multiples of patch * merge within [min_pixels, max_pixels], antialiased 8-bit resample, rescale and normalise,
/// repeat to the temporal patch size, and patchify. Mirrors transformers 5's default (torchvision-backed) processor;
/// <see cref="ResampleArithmetic.Pillow"/> mirrors its PIL backend.
/// </summary>
public sealed class ImageProcessor
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

    public ProcessedImage Process(string imagePath)
    {
        var image = ImageDecoder.Load(imagePath);
        try
        {
            return Process(image);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{imagePath}: {e.Message}", e);
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
            throw new InvalidDataException($"image {width}x{height}: do_resize is off and the size is not a multiple of {Config.Factor}");
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
    /// </summary>
    private float[] Normalize(RgbImage image)
    {
        int plane = image.Width * image.Height;
        var output = new float[3L * plane];
        Span<float> scale = stackalloc float[3];
        Span<float> shift = stackalloc float[3];
        bool fused = Config.DoRescale && Config.DoNormalize;
        float inverseRescale = (float)(1.0 / Config.RescaleFactor);
        for (int c = 0; c < 3; c++)
        {
            float mean = Config.DoNormalize ? Config.ImageMean[c] : 0f;
            float std = Config.DoNormalize ? Config.ImageStd[c] : 1f;
            if (fused)
            {
                mean *= inverseRescale;
                std *= inverseRescale;
            }
            shift[c] = mean;
            scale[c] = std;
        }
        bool rescaleOnly = Config.DoRescale && !Config.DoNormalize;
        float rescale = (float)Config.RescaleFactor;
        var pixels = image.Pixels;
        for (int i = 0; i < plane; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                float v = pixels[i * 3 + c];
                output[c * plane + i] = rescaleOnly ? v * rescale : (v - shift[c]) / scale[c];
            }
        }
        return output;
    }
}
