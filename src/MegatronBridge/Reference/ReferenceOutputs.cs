using System.Runtime.InteropServices;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Reference;

/// <summary>One case of a reference file: inputs and what transformers computed for them.</summary>
internal sealed record ReferenceCase(string Name, int[] InputIds, float[] Logits, int[] GreedyTokens, ImageInput? Image, float[]? ImageEmbeds);

/// <summary>
/// Reads <c>reference_outputs.safetensors</c>: <c>text_*</c> and, for VL models, <c>image_*</c> tensors (input ids,
/// logits [1, T, V], greedy tokens [1, N], pixel values, grid, and the vision features where stored).
/// </summary>
internal static class ReferenceOutputs
{
    public const string FileName = "reference_outputs.safetensors";

    public static IReadOnlyList<ReferenceCase> Load(string path)
    {
        using var file = SafetensorsFile.Open(path);
        var source = new SingleFileSource(file, path);
        var cases = new List<ReferenceCase>();
        foreach (var prefix in new[] { "text", "image" })
        {
            if (!source.Contains(prefix + "_input_ids")) continue;
            var ids = ReadInts(source, prefix + "_input_ids");
            if (ids.Length == 0) throw new InvalidInputException($"{path}: {prefix}_input_ids is empty");
            var logits = ElementConvert.ReadFloats(source, prefix + "_logits");
            var greedy = source.Contains(prefix + "_greedy_tokens") ? ReadInts(source, prefix + "_greedy_tokens") : Array.Empty<int>();
            if (logits.Length % ids.Length != 0)
                throw new InvalidInputException($"{path}: {prefix}_logits has {logits.Length} values, not a multiple of {ids.Length} tokens");
            ImageInput? image = null;
            float[]? embeds = null;
            if (source.Contains(prefix + "_pixel_values"))
            {
                var grid = ReadInts(source, prefix + "_grid_thw");
                if (grid.Length == 0 || grid.Length % 3 != 0)
                    throw new InvalidInputException($"{path}: {prefix}_grid_thw must be [images, 3]");
                var grids = Enumerable.Range(0, grid.Length / 3).Select(i => new ImageGrid(grid[3 * i], grid[3 * i + 1], grid[3 * i + 2])).ToArray();
                image = new ImageInput(ElementConvert.ReadFloats(source, prefix + "_pixel_values"), grids);
                if (source.Contains(prefix + "_embeds")) embeds = ElementConvert.ReadFloats(source, prefix + "_embeds");
            }
            cases.Add(new ReferenceCase(prefix, ids, logits, greedy, image, embeds));
        }
        if (cases.Count == 0) throw new InvalidInputException($"{path}: holds neither text_input_ids nor image_input_ids");
        return cases;
    }

    /// <summary>An integer tensor (I64 or I32) as ints, each checked to fit.</summary>
    public static int[] ReadInts(ITensorSource source, string name)
    {
        var meta = source.Get(name);
        var bytes = source.ReadAll(name);
        return meta.DType switch
        {
            DType.I64 => MemoryMarshal.Cast<byte, long>(bytes).ToArray().Select(v => v is >= int.MinValue and <= int.MaxValue ? (int)v : throw new InvalidInputException($"{source.Description}: {name} holds {v}, too large")).ToArray(),
            DType.I32 => MemoryMarshal.Cast<byte, int>(bytes).ToArray(),
            _ => throw new InvalidInputException($"{source.Description}: {name} is {meta.DType}, expected an integer tensor"),
        };
    }

    /// <summary>One safetensors file as a tensor source.</summary>
    private sealed class SingleFileSource(SafetensorsFile file, string path) : ITensorSource
    {
        public string Description => path;
        public IReadOnlyList<TensorMeta> Tensors => file.Entries.Select(e => e.Meta).ToList();

        public bool TryGet(string name, out TensorMeta meta)
        {
            bool found = file.ByName.TryGetValue(name, out var entry);
            meta = found ? entry!.Meta : null!;
            return found;
        }

        public void Read(string name, long byteOffset, Span<byte> destination)
        {
            if (!file.ByName.TryGetValue(name, out var entry)) throw new InvalidInputException($"{path}: no tensor named '{name}'");
            file.Read(entry, byteOffset, destination);
        }
    }
}
