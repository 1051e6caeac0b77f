using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Preprocessing;
using MegatronBridge.Reference;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// The inputs of a forward as the <c>generate</c> and <c>compare</c> jobs take them: prompt text (through the model's
/// tokenizer) or token ids, and images (through the model's image processor, placeholders expanded) or already
/// processed pixel values with their grids. Messages name the command-line options these fields come from.
/// </summary>
internal static class PromptInputs
{
    public const string TokenizerFile = "tokenizer.json";

    /// <param name="AssetFolders">Where tokenizer.json and preprocessor_config.json are looked up, in order.</param>
    public sealed record Request(string? Prompt, string? InputIds, IReadOnlyList<string> Images, string? PixelValues,
        IReadOnlyList<string> ImageGridThw, IReadOnlyList<string> AssetFolders);

    /// <summary>The prompt ids (image placeholders expanded), the image input if any, and the tokenizer if found.</summary>
    public static (int[] Ids, ImageInput? Image, QwenTokenizer? Tokenizer) Prepare(Request request, HfConfig hfConfig)
    {
        var assetFolders = request.AssetFolders;
        string? tokenizerFolder = assetFolders.FirstOrDefault(f => File.Exists(Path.Combine(f, TokenizerFile)));
        var tokenizer = tokenizerFolder is null ? null : QwenTokenizer.FromFolder(tokenizerFolder);

        int[] ids = (request.Prompt, request.InputIds) switch
        {
            (not null, null) => (tokenizer ?? throw new FileNotFoundException($"--prompt needs a {TokenizerFile} in {string.Join(" or ", assetFolders)} (or give --input-ids)")).Encode(request.Prompt),
            (null, not null) => ParseIds(request.InputIds),
            (null, null) => throw new InvalidInputException("give --prompt or --input-ids"),
            _ => throw new InvalidInputException("give --prompt or --input-ids, not both"),
        };
        if (ids.Length == 0) throw new InvalidInputException("the prompt gives no tokens");

        ImageInput? image = null;
        if (request.Images.Count > 0)
        {
            if (request.PixelValues is not null) throw new InvalidInputException("give --image or --pixel-values, not both");
            (ids, image) = ProcessImages(request.Images, ids, hfConfig, assetFolders);
        }
        else if (request.PixelValues is not null)
        {
            if (request.ImageGridThw.Count == 0) throw new InvalidInputException("--pixel-values needs --image-grid-thw");
            RequireVision(hfConfig);
            image = new ImageInput(ReadPixelValues(request.PixelValues), request.ImageGridThw.Select(ImageGrid.Parse).ToArray());
        }
        else if (request.ImageGridThw.Count > 0)
        {
            throw new InvalidInputException("--image-grid-thw needs --pixel-values");
        }
        return (ids, image, tokenizer);
    }

    /// <summary>
    /// Runs the image processor and expands the placeholders: each image token id of the prompt takes the next image;
    /// a prompt without any gets one per image in front of its text (where the chat template puts them).
    /// </summary>
    private static (int[] Ids, ImageInput Image) ProcessImages(IReadOnlyList<string> images, int[] ids, HfConfig config, IReadOnlyList<string> assetFolders)
    {
        RequireVision(config);
        string processorFolder = assetFolders.FirstOrDefault(f => File.Exists(Path.Combine(f, "preprocessor_config.json")) || File.Exists(Path.Combine(f, "processor_config.json")))
            ?? throw new FileNotFoundException($"--image needs preprocessor_config.json in {string.Join(" or ", assetFolders)}");
        var batch = ImageProcessor.FromFolder(processorFolder).ProcessBatch(images);
        var tokens = VisionTokenIds.FromConfig(config);
        if (!ids.Contains(tokens.ImageTokenId))
            ids = Enumerable.Repeat(tokens.ImageTokenId, images.Count).Concat(ids).ToArray();
        var expanded = PromptBuilder.ExpandImagePlaceholders(ids, batch.Grids, config);
        var grids = batch.Grids.Select(g => new ImageGrid(g.T, g.H, g.W)).ToArray();
        return (expanded.InputIds, new ImageInput(batch.PixelValues, grids));
    }

    /// <summary>Refused here, as bad input, rather than deep in the forward pass.</summary>
    private static void RequireVision(HfConfig config)
    {
        if (config.Vision is null) throw new InvalidInputException($"{config.Path}: the model has no vision_config, so it cannot take images");
    }

    /// <summary>Comma-separated token ids, e.g. "5,17,99".</summary>
    public static int[] ParseIds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new InvalidInputException("--input-ids is empty");
        return parts.Select(p => int.TryParse(p, out int id) && id >= 0 ? id : throw new InvalidInputException($"--input-ids: '{p}' is not a non-negative integer")).ToArray();
    }

    private static float[] ReadPixelValues(string path)
    {
        using var file = SafetensorsFile.Open(path);
        var entry = file.ByName.GetValueOrDefault("pixel_values") ?? file.ByName.GetValueOrDefault("image_pixel_values")
            ?? (file.Entries.Count == 1 ? file.Entries[0] : throw new InvalidInputException($"{path}: no tensor named pixel_values or image_pixel_values, and more than one tensor"));
        if (!entry.Meta.DType.IsFloating()) throw new InvalidInputException($"{path}: tensor '{entry.Meta.Name}' is {entry.Meta.DType}, expected a floating dtype");
        var bytes = new byte[checked((int)entry.Meta.ByteLength)];
        file.Read(entry, 0, bytes);
        var values = new float[entry.Meta.NumElements];
        ElementConvert.ToSingle(bytes, entry.Meta.DType, values);
        return values;
    }
}
