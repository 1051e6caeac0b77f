using System.CommandLine;
using System.Text.Json.Nodes;
using MegatronBridge.Jobs;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// <c>generate</c>: parses the options into a <see cref="GenerateRequest"/>, runs <see cref="ReferenceGenerator"/>
/// (greedy decoding with the CPU reference forward) and prints the new token ids, then the text when a tokenizer is
/// there.
/// </summary>
internal static class GenerateCommand
{
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
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (prompt ids, generated ids, text or null; errors too, on stderr)." };
        var command = new Command("generate", "Greedy generation with the CPU reference forward; prints the generated token ids (and text with a tokenizer).")
        {
            model, hfModel, processor, prompt, inputIds, image, pixelValues, grid, maxNew, streamLayers, json,
        };
        command.SetAction(parse => Run(new GenerateRequest(parse.GetValue(model)!)
        {
            HfModel = parse.GetValue(hfModel),
            Processor = parse.GetValue(processor),
            Prompt = parse.GetValue(prompt),
            InputIds = parse.GetValue(inputIds),
            Images = parse.GetValue(image) ?? Array.Empty<string>(),
            PixelValues = parse.GetValue(pixelValues),
            ImageGridThw = parse.GetValue(grid) ?? Array.Empty<string>(),
            MaxNewTokens = parse.GetValue(maxNew),
        }, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, parse.GetValue(json)));
        return command;
    }

    /// <summary>Bad input (documented as 2).</summary>
    public const int InputErrorExitCode = 2;

    /// <summary>Exit code 0, 2 on bad input, 70 on an internal error (message on <paramref name="error"/>).</summary>
    /// <param name="json">Print the result (and an error, on <paramref name="error"/>) as one JSON object.</param>
    public static int Run(GenerateRequest request, TextWriter output, TextWriter error, bool json = false) =>
        CommandErrors.Run("generate", error, () =>
        {
            var result = ReferenceGenerator.Generate(request);
            if (json)
            {
                JsonOutput.Write(output, new JsonObject
                {
                    ["prompt_ids"] = new JsonArray(result.PromptIds.Select(i => (JsonNode?)i).ToArray()),
                    ["generated_ids"] = new JsonArray(result.Generated.Select(i => (JsonNode?)i).ToArray()),
                    ["text"] = result.Text,
                });
                return 0;
            }
            output.WriteLine(string.Join(",", result.Generated));
            if (result.Text is not null) output.WriteLine("text: " + result.Text);
            return 0;
        }, InputErrorExitCode, json);
}
