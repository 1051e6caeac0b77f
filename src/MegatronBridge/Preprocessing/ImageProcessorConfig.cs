using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// The settings of a Qwen2-VL-family image processor (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3.5), read from
/// preprocessor_config.json. Absent fields take transformers' class defaults, so a sparse config behaves as it does there.
/// </summary>
internal sealed record ImageProcessorConfig
{
    // transformers' Qwen2VLImageProcessor class defaults (OPENAI_CLIP mean/std, 56*56 .. 28*28*1280 pixels, patch 14).
    private static readonly float[] ClipMean = { 0.48145466f, 0.4578275f, 0.40821073f };
    private static readonly float[] ClipStd = { 0.26862954f, 0.26130258f, 0.27577711f };

    public int PatchSize { get; init; } = 14;
    public int TemporalPatchSize { get; init; } = 2;
    public int MergeSize { get; init; } = 2;
    public long MinPixels { get; init; } = 56 * 56;
    public long MaxPixels { get; init; } = 28 * 28 * 1280;
    public bool DoResize { get; init; } = true;
    public ResampleFilter Resample { get; init; } = ResampleFilter.Bicubic;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1.0 / 255.0;
    public bool DoNormalize { get; init; } = true;
    public IReadOnlyList<float> ImageMean { get; init; } = ClipMean;
    public IReadOnlyList<float> ImageStd { get; init; } = ClipStd;
    public bool DoConvertRgb { get; init; } = true;

    /// <summary>Resized sides are multiples of this: one merged patch (patch_size * merge_size).</summary>
    public int Factor => PatchSize * MergeSize;

    /// <summary>
    /// Reads <c>preprocessor_config.json</c> in <paramref name="folder"/>, or else the <c>image_processor</c> object of
    /// <c>processor_config.json</c> (the combined file newer transformers write).
    /// </summary>
    public static ImageProcessorConfig FromFolder(string folder)
    {
        var pre = Path.Combine(folder, "preprocessor_config.json");
        if (File.Exists(pre)) return Load(pre);
        var combined = Path.Combine(folder, "processor_config.json");
        if (File.Exists(combined))
        {
            MegatronBridge.IO.InputFile.EnsureRegular(combined);
            var root = ParseObject(File.ReadAllText(combined), combined);
            if (root["image_processor"] is JsonObject nested) return FromJson(nested, combined + ": image_processor");
            throw new InvalidInputException($"{combined}: has no \"image_processor\" object");
        }
        throw new FileNotFoundException($"{folder}: neither preprocessor_config.json nor processor_config.json found", pre);
    }

    public static ImageProcessorConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: image processor config not found", path);
        MegatronBridge.IO.InputFile.EnsureRegular(path);
        return FromJson(ParseObject(File.ReadAllText(path), path), path);
    }

    public static ImageProcessorConfig Parse(string json, string where) => FromJson(ParseObject(json, where), where);

    private static ImageProcessorConfig FromJson(JsonObject json, string where)
    {
        var f = new JsonFields(json, where);
        var defaults = new ImageProcessorConfig();
        var size = f.Object("size");
        var sizeFields = size is null ? null : new JsonFields(size, where + ": size");

        // As transformers does: size holds shortest_edge/longest_edge (pixel counts, not edges); top-level
        // min_pixels/max_pixels override it for backward compatibility. Older files spell size as min/max_pixels.
        long minPixels = f.Long("min_pixels") ?? sizeFields?.Long("shortest_edge") ?? sizeFields?.Long("min_pixels") ?? defaults.MinPixels;
        long maxPixels = f.Long("max_pixels") ?? sizeFields?.Long("longest_edge") ?? sizeFields?.Long("max_pixels") ?? defaults.MaxPixels;

        int resampleCode = f.Int("resample") ?? (int)defaults.Resample;
        if (!Enum.IsDefined(typeof(ResampleFilter), resampleCode))
            throw new InvalidInputException($"{where}: resample = {resampleCode} is not supported (2 = bilinear, 3 = bicubic)");

        var config = new ImageProcessorConfig
        {
            PatchSize = f.Int("patch_size") ?? defaults.PatchSize,
            TemporalPatchSize = f.Int("temporal_patch_size") ?? defaults.TemporalPatchSize,
            MergeSize = f.Int("merge_size") ?? defaults.MergeSize,
            MinPixels = minPixels,
            MaxPixels = maxPixels,
            DoResize = f.Bool("do_resize") ?? defaults.DoResize,
            Resample = (ResampleFilter)resampleCode,
            DoRescale = f.Bool("do_rescale") ?? defaults.DoRescale,
            RescaleFactor = f.Double("rescale_factor") ?? defaults.RescaleFactor,
            DoNormalize = f.Bool("do_normalize") ?? defaults.DoNormalize,
            ImageMean = ReadPerChannel(json, "image_mean", where) ?? defaults.ImageMean,
            ImageStd = ReadPerChannel(json, "image_std", where) ?? defaults.ImageStd,
            DoConvertRgb = f.Bool("do_convert_rgb") ?? defaults.DoConvertRgb,
        };
        config.Validate(where);
        return config;
    }

    /// <summary>Throws InvalidInputException naming the field when a setting cannot work.</summary>
    public void Validate(string where)
    {
        if (PatchSize <= 0) throw new InvalidInputException($"{where}: patch_size must be positive, got {PatchSize}");
        if (TemporalPatchSize <= 0) throw new InvalidInputException($"{where}: temporal_patch_size must be positive, got {TemporalPatchSize}");
        if (MergeSize <= 0) throw new InvalidInputException($"{where}: merge_size must be positive, got {MergeSize}");
        if (MinPixels <= 0) throw new InvalidInputException($"{where}: min_pixels (size.shortest_edge) must be positive, got {MinPixels}");
        if (MaxPixels < MinPixels)
            throw new InvalidInputException($"{where}: max_pixels (size.longest_edge) {MaxPixels} is below min_pixels {MinPixels}");
        if (RescaleFactor == 0 || !double.IsFinite(RescaleFactor))
            throw new InvalidInputException($"{where}: rescale_factor must be a finite non-zero number, got {RescaleFactor}");
        if (ImageMean.Count != 3) throw new InvalidInputException($"{where}: image_mean must have 3 values (RGB), got {ImageMean.Count}");
        if (ImageStd.Count != 3) throw new InvalidInputException($"{where}: image_std must have 3 values (RGB), got {ImageStd.Count}");
        if (ImageStd.Any(s => s == 0 || !float.IsFinite(s))) throw new InvalidInputException($"{where}: image_std has a zero or non-finite value");
    }

    // image_mean / image_std may be one number (applied to every channel) or one per channel.
    private static float[]? ReadPerChannel(JsonObject json, string name, string where)
    {
        if (!json.TryGetPropertyValue(name, out var node) || node is null) return null;
        if (node is JsonArray array)
        {
            return array.Select((x, i) => x is not null && x.GetValueKind() == JsonValueKind.Number
                ? (float)x.GetValue<double>()
                : throw new InvalidInputException($"{where}: {name}[{i}] must be a number")).ToArray();
        }
        if (node.GetValueKind() == JsonValueKind.Number)
        {
            var v = (float)node.GetValue<double>();
            return new[] { v, v, v };
        }
        throw new InvalidInputException($"{where}: {name} must be a number or a list of numbers");
    }

    private static JsonObject ParseObject(string text, string where)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{where}: not valid JSON ({e.Message})");
        }
        return node as JsonObject ?? throw new InvalidInputException($"{where}: not a JSON object");
    }
}
