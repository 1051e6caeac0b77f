using System.CommandLine;
using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Preprocessing;
using MegatronBridge.Reference;
using MegatronBridge.Tensors;

namespace MegatronBridge.Cli.Commands;

/// <summary>What <c>generate</c> runs.</summary>
/// <param name="Model">Hugging Face folder or Megatron checkpoint (torch_dist).</param>
internal sealed record GenerateOptions(string Model)
{
    /// <summary>HF folder with config.json (required for a Megatron checkpoint), tokenizer and image processor files.</summary>
    public string? HfModel { get; init; }
    /// <summary>Folder with tokenizer.json / preprocessor_config.json when neither --hf-model nor --model has them.</summary>
    public string? Processor { get; init; }
    public string? Prompt { get; init; }
    public string? InputIds { get; init; }
    public IReadOnlyList<string> Images { get; init; } = Array.Empty<string>();
    public string? PixelValues { get; init; }
    public IReadOnlyList<string> ImageGridThw { get; init; } = Array.Empty<string>();
    public int MaxNewTokens { get; init; } = 8;
    public bool StreamLayers { get; init; }
}

/// <summary>
/// <c>generate</c>: greedy decoding with the CPU reference forward, from an HF folder or a Megatron checkpoint; the
/// prompt is text (through the model's tokenizer) or token ids, optionally with images (through the model's image
/// processor, one image placeholder per image expanded to its patch count). Prints the new token ids, then the text
/// when a tokenizer is there.
/// </summary>
internal static class GenerateCommand
{
    public const string TokenizerFile = "tokenizer.json";

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face folder or Megatron checkpoint (torch_dist).", Required = true };
        var hfModel = new Option<string?>("--hf-model") { Description = "Hugging Face folder with config.json (required when --model is a Megatron checkpoint), tokenizer.json and preprocessor_config.json." };
        var processor = new Option<string?>("--processor") { Description = "Folder with tokenizer.json / preprocessor_config.json, when neither --hf-model nor --model has them." };
        var prompt = new Option<string?>("--prompt") { Description = "Prompt text (needs tokenizer.json)." };
        var inputIds = new Option<string?>("--input-ids") { Description = "Prompt token ids, comma separated (e.g. 5,17,99)." };
        var image = new Option<string[]>("--image") { Description = "Image file (PNG/JPEG); repeat for several images. Each takes one image placeholder of the prompt, or is put before the prompt.", AllowMultipleArgumentsPerToken = true };
        var pixelValues = new Option<string?>("--pixel-values") { Description = "Safetensors file with already processed pixel values [patches, C*T*P*P] (tensor 'pixel_values', 'image_pixel_values', or its only tensor)." };
        var grid = new Option<string[]>("--image-grid-thw") { Description = "Patch grid t,h,w of each image of --pixel-values (repeat for several images).", AllowMultipleArgumentsPerToken = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Number of tokens to generate.", DefaultValueFactory = _ => 8 };
        var streamLayers = new Option<bool>("--stream-layers") { Description = "Read each decoder layer from disk when the forward reaches it (bounded memory, slower)." };
        var command = new Command("generate", "Greedy generation with the CPU reference forward; prints the generated token ids (and text with a tokenizer).")
        {
            model, hfModel, processor, prompt, inputIds, image, pixelValues, grid, maxNew, streamLayers,
        };
        command.SetAction(parse => Run(new GenerateOptions(parse.GetValue(model)!)
        {
            HfModel = parse.GetValue(hfModel),
            Processor = parse.GetValue(processor),
            Prompt = parse.GetValue(prompt),
            InputIds = parse.GetValue(inputIds),
            Images = parse.GetValue(image) ?? Array.Empty<string>(),
            PixelValues = parse.GetValue(pixelValues),
            ImageGridThw = parse.GetValue(grid) ?? Array.Empty<string>(),
            MaxNewTokens = parse.GetValue(maxNew),
            StreamLayers = parse.GetValue(streamLayers),
        }, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    /// <summary>Bad input (documented as 2).</summary>
    public const int InputErrorExitCode = 2;

    /// <summary>Exit code 0, 2 on bad input, 70 on an internal error (message on <paramref name="error"/>).</summary>
    public static int Run(GenerateOptions options, TextWriter output, TextWriter error) =>
        CommandErrors.Run("generate", error, () =>
        {
            var result = Generate(options);
            output.WriteLine(string.Join(",", result.Generated));
            if (result.Text is not null) output.WriteLine("text: " + result.Text);
            return 0;
        }, InputErrorExitCode);

    /// <summary>The prompt ids the model saw (placeholders expanded), the new ids, and their text with a tokenizer.</summary>
    public sealed record Result(int[] PromptIds, int[] Generated, string? Text);

    public static Result Generate(GenerateOptions options)
    {
        if (options.MaxNewTokens < 0) throw new ArgumentException($"--max-new-tokens must not be negative, got {options.MaxNewTokens}");
        bool megatron = MegatronCheckpointWeights.IsMegatronCheckpoint(options.Model);
        if (megatron && options.HfModel is null)
            throw new ArgumentException($"{options.Model} is a Megatron checkpoint: give --hf-model (the HF folder with its config.json)");
        string configFolder = megatron ? options.HfModel! : options.Model;
        var hfConfig = HfConfig.LoadFromFolder(configFolder);

        var assetFolders = new[] { options.Processor, options.HfModel, options.Model }.OfType<string>().ToList();
        string? tokenizerFolder = assetFolders.FirstOrDefault(f => File.Exists(Path.Combine(f, TokenizerFile)));
        var tokenizer = tokenizerFolder is null ? null : QwenTokenizer.FromFolder(tokenizerFolder);

        int[] ids = (options.Prompt, options.InputIds) switch
        {
            (not null, null) => (tokenizer ?? throw new FileNotFoundException($"--prompt needs a {TokenizerFile} in {string.Join(" or ", assetFolders)} (or give --input-ids)")).Encode(options.Prompt),
            (null, not null) => ParseIds(options.InputIds),
            (null, null) => throw new ArgumentException("give --prompt or --input-ids"),
            _ => throw new ArgumentException("give --prompt or --input-ids, not both"),
        };
        if (ids.Length == 0) throw new ArgumentException("the prompt gives no tokens");

        ImageInput? image = null;
        if (options.Images.Count > 0)
        {
            if (options.PixelValues is not null) throw new ArgumentException("give --image or --pixel-values, not both");
            (ids, image) = ProcessImages(options.Images, ids, hfConfig, assetFolders);
        }
        else if (options.PixelValues is not null)
        {
            if (options.ImageGridThw.Count == 0) throw new ArgumentException("--pixel-values needs --image-grid-thw");
            RequireVision(hfConfig);
            image = new ImageInput(ReadPixelValues(options.PixelValues), options.ImageGridThw.Select(ImageGrid.Parse).ToArray());
        }
        else if (options.ImageGridThw.Count > 0)
        {
            throw new ArgumentException("--image-grid-thw needs --pixel-values");
        }

        using var reference = megatron
            ? ReferenceModel.LoadMegatron(options.Model, configFolder, options.StreamLayers)
            : ReferenceModel.LoadHf(options.Model, options.StreamLayers);
        var generated = Greedy.Generate(reference, ids, options.MaxNewTokens, image);
        // Models pad their vocabulary past the tokenizer's; like the tokenizers library, decoding skips ids it lacks.
        return new Result(ids, generated, tokenizer?.Decode(generated.Where(id => tokenizer.IdToToken(id) is not null)));
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
        if (config.Vision is null) throw new ArgumentException($"{config.Path}: the model has no vision_config, so it cannot take images");
    }

    public static int[] ParseIds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new FormatException("--input-ids is empty");
        return parts.Select(p => int.TryParse(p, out int id) && id >= 0 ? id : throw new FormatException($"--input-ids: '{p}' is not a non-negative integer")).ToArray();
    }

    private static float[] ReadPixelValues(string path)
    {
        using var file = SafetensorsFile.Open(path);
        var entry = file.ByName.GetValueOrDefault("pixel_values") ?? file.ByName.GetValueOrDefault("image_pixel_values")
            ?? (file.Entries.Count == 1 ? file.Entries[0] : throw new InvalidDataException($"{path}: no tensor named pixel_values or image_pixel_values, and more than one tensor"));
        if (!entry.Meta.DType.IsFloating()) throw new InvalidDataException($"{path}: tensor '{entry.Meta.Name}' is {entry.Meta.DType}, expected a floating dtype");
        var bytes = new byte[checked((int)entry.Meta.ByteLength)];
        file.Read(entry, 0, bytes);
        var values = new float[entry.Meta.NumElements];
        ElementConvert.ToSingle(bytes, entry.Meta.DType, values);
        return values;
    }
}
