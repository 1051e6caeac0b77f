using System.CommandLine;
using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
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
}

/// <summary>
/// <c>generate</c>: greedy decoding with the CPU reference forward, from an HF folder or a Megatron checkpoint; the
/// prompt is text (through the model's tokenizer) or token ids, optionally with images (through the model's image
/// processor, one image placeholder per image expanded to its patch count). Prints the new token ids, then the text
/// when a tokenizer is there.
/// </summary>
internal static class GenerateCommand
{
    public const string TokenizerFile = PromptInputs.TokenizerFile;

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
        var streamLayers = StreamLayersOption.Create();
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
        if (options.MaxNewTokens < 0) throw new InvalidInputException($"--max-new-tokens must not be negative, got {options.MaxNewTokens}");
        bool megatron = MegatronCheckpointWeights.IsMegatronCheckpoint(options.Model);
        if (megatron && options.HfModel is null)
            throw new InvalidInputException($"{options.Model} is a Megatron checkpoint: give --hf-model (the HF folder with its config.json)");
        string configFolder = megatron ? options.HfModel! : options.Model;
        var hfConfig = HfConfig.LoadFromFolder(configFolder);

        var assetFolders = new[] { options.Processor, options.HfModel, options.Model }.OfType<string>().ToList();
        var (ids, image, tokenizer) = PromptInputs.Prepare(
            new PromptInputs.Request(options.Prompt, options.InputIds, options.Images, options.PixelValues, options.ImageGridThw, assetFolders), hfConfig);

        using var reference = megatron
            ? MegatronReferenceModel.Load(options.Model, configFolder)
            : ReferenceModel.LoadHf(options.Model);
        var generated = Greedy.Generate(reference, ids, options.MaxNewTokens, image);
        // Models pad their vocabulary past the tokenizer's; like the tokenizers library, decoding skips ids it lacks.
        return new Result(ids, generated, tokenizer?.Decode(generated.Where(id => tokenizer.IdToToken(id) is not null)));
    }

    public static int[] ParseIds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new InvalidInputException("--input-ids is empty");
        return parts.Select(p => int.TryParse(p, out int id) && id >= 0 ? id : throw new InvalidInputException($"--input-ids: '{p}' is not a non-negative integer")).ToArray();
    }
}
