using System.CommandLine;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Reference;
using MegatronBridge.Tensors;

namespace MegatronBridge.Cli.Commands;

/// <summary><c>generate</c>: greedy decoding with the CPU reference forward; prints the new token ids.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face checkpoint folder.", Required = true };
        var inputIds = new Option<string>("--input-ids") { Description = "Prompt token ids, comma separated (e.g. 5,17,99).", Required = true };
        var pixelValues = new Option<string?>("--pixel-values") { Description = "Safetensors file with the processor's pixel values [patches, C*T*P*P] (tensor 'pixel_values', 'image_pixel_values', or its only tensor)." };
        var grid = new Option<string[]>("--image-grid-thw") { Description = "Patch grid t,h,w of each image (repeat for several images).", AllowMultipleArgumentsPerToken = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Number of tokens to generate.", DefaultValueFactory = _ => 8 };
        var streamLayers = new Option<bool>("--stream-layers") { Description = "Read each decoder layer from disk when the forward reaches it (bounded memory, slower)." };
        var command = new Command("generate", "Greedy generation with the CPU reference forward; prints the generated token ids.")
        {
            model, inputIds, pixelValues, grid, maxNew, streamLayers,
        };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(inputIds)!, parse.GetValue(pixelValues), parse.GetValue(grid) ?? Array.Empty<string>(),
            parse.GetValue(maxNew), Console.Out, parse.GetValue(streamLayers)));
        return command;
    }

    public static int Run(string modelFolder, string inputIds, string? pixelValuesPath, IReadOnlyList<string> grids, int maxNewTokens, TextWriter output, bool streamLayers = false)
    {
        try
        {
            if (maxNewTokens < 0) throw new ArgumentException($"--max-new-tokens must not be negative, got {maxNewTokens}");
            var ids = ParseIds(inputIds);
            ImageInput? image = null;
            if (pixelValuesPath is not null)
            {
                if (grids.Count == 0) throw new ArgumentException("--pixel-values needs --image-grid-thw");
                image = new ImageInput(ReadPixelValues(pixelValuesPath), grids.Select(ImageGrid.Parse).ToArray());
            }
            else if (grids.Count > 0)
            {
                throw new ArgumentException("--image-grid-thw needs --pixel-values");
            }
            using var reference = ReferenceModel.LoadHf(modelFolder, streamLayers);
            var generated = Greedy.Generate(reference, ids, maxNewTokens, image);
            output.WriteLine(string.Join(",", generated));
            return 0;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or KeyNotFoundException or InvalidOperationException or FormatException or NotSupportedException)
        {
            Console.Error.WriteLine($"generate: {e.Message}");
            return 2;
        }
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
        var bytes = new byte[checked((int)entry.Meta.ByteLength)];
        file.Read(entry, 0, bytes);
        var values = new float[entry.Meta.NumElements];
        ElementConvert.ToSingle(bytes, entry.Meta.DType, values);
        return values;
    }
}
