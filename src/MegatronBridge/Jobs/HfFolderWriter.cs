using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// Writes an exported Hugging Face folder: the tensors of an export plan as safetensors (in the original checkpoint's
/// shard layout when it is known and no shard size is asked for, else sharded by size as save_pretrained does), and
/// the config, generation, tokenizer and processor files copied from the original folder.
/// </summary>
internal static class HfFolderWriter
{
    /// <summary>Files of a Hugging Face model folder that travel with the weights.</summary>
    private static readonly string[] SideFilePatterns =
    {
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json",
        "merges.txt", "special_tokens_map.json", "added_tokens.json", "chat_template.json", "chat_template.jinja",
        "preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json",
    };

    public static void Write(
        IReadOnlyList<TensorRecipe> recipes,
        ITensorSource megatron,
        string folder,
        string originalFolder,
        SafetensorsCheckpoint? original,
        long? maxShardBytes,
        RecipeExecutor executor,
        ConversionProgress? progress = null,
        Fp8Export? fp8 = null)
    {
        var metas = recipes.SelectMany(r => fp8?.Outputs(r.Output) ?? [r.Output]).ToList();
        var plan = original != null && maxShardBytes is null && metas.All(m => original.Contains(m.Name))
            ? SafetensorsShardPlan.FromCheckpoint(metas, original)
            : SafetensorsShardPlan.BySize(metas, maxShardBytes ?? ShardSize.Parse("5GB"));
        using (var writer = SafetensorsCheckpointWriter.Create(folder, plan))
        {
            // Every tensor's place in its file is fixed by the plan, so a few runs of tensors are produced at once,
            // each in order (bytes identical to one producer; memory: two executor buffers per run).
            int degree = BoundedParallel.DefaultDegree;
            var runs = BoundedParallel.ContiguousRuns(Slices(recipes, SliceBytes, fp8), s => s.Recipe.Output.ByteLength, degree);
            BoundedParallel.ForEach(runs, degree, run =>
            {
                foreach (var slice in run)
                {
                    if (slice.Fp8Rows is var (first, count) && fp8 != null)
                        Fp8BlockQuantizer.Execute(slice.Recipe, megatron, executor, fp8.BlockRows, fp8.BlockCols, fp8.ScaleDType,
                            writer.Sink(slice.Tensor), writer.Sink(Fp8Export.ScaleName(slice.Tensor)), first, count);
                    else
                        executor.Execute(slice.Recipe, megatron, new OffsetSink(writer.Sink(slice.Tensor), slice.ByteOffset));
                    progress?.Add(slice.Fp8Rows is var (_, rows) ? slice.Recipe.Output.ByteLength / slice.Recipe.Output.Shape[0] * rows : slice.Recipe.Output.ByteLength);
                }
            });
            writer.Commit();
        }
        CopySideFiles(originalFolder, folder);
    }

    /// <summary>Tensors larger than this are produced in row slices, so one huge tensor (packed experts) does not leave one producer alone.</summary>
    internal static long SliceBytes { get; set; } = 256L << 20; // tests lower it to slice tiny fixtures

    /// <summary>
    /// Rows of one output tensor, written at <see cref="ByteOffset"/> of it; or, for a quantized weight, the whole
    /// recipe with the rows (<see cref="Fp8Rows"/>) of it this slice quantizes.
    /// </summary>
    internal sealed record TensorSlice(TensorRecipe Recipe, string Tensor, long ByteOffset, (long First, long Count)? Fp8Rows = null);

    /// <summary>Every recipe as one slice, or as row slices of about <paramref name="sliceBytes"/> where its pieces allow it.</summary>
    internal static List<TensorSlice> Slices(IReadOnlyList<TensorRecipe> recipes, long sliceBytes, Fp8Export? fp8 = null)
    {
        var slices = new List<TensorSlice>();
        foreach (var recipe in recipes)
        {
            var output = recipe.Output;
            long rows = output.Shape.Rank == 0 ? 1 : output.Shape[0];
            long rowBytes = rows > 0 ? output.ByteLength / rows : 0;
            if (fp8 != null && fp8.Quantizes(output))
            {
                // Whole block rows per slice: each block's scale needs all its rows.
                long perQuantized = Math.Max(1, sliceBytes / Math.Max(1, rowBytes) / fp8.BlockRows) * fp8.BlockRows;
                for (long start = 0; start < rows; start += perQuantized)
                    slices.Add(new TensorSlice(recipe, output.Name, 0, (start, Math.Min(perQuantized, rows - start))));
                continue;
            }
            if (output.ByteLength <= sliceBytes || rows < 2 || rowBytes == 0)
            {
                slices.Add(new TensorSlice(recipe, output.Name, 0));
                continue;
            }
            long perSlice = Math.Max(1, sliceBytes / rowBytes);
            var parts = new List<TensorSlice>();
            try
            {
                for (long start = 0; start < rows; start += perSlice)
                    parts.Add(new TensorSlice(recipe.NarrowRows(start, Math.Min(perSlice, rows - start)), output.Name, start * rowBytes));
            }
            catch (NotSupportedException)
            {
                // Pieces that do not keep the output's row layout: produced whole.
                parts = [new TensorSlice(recipe, output.Name, 0)];
            }
            slices.AddRange(parts);
        }
        return slices;
    }

    /// <summary>Shifts a slice's writes to its place in the whole tensor.</summary>
    private sealed class OffsetSink(ITensorSink inner, long offset) : ITensorSink
    {
        public void Write(long byteOffset, ReadOnlySpan<byte> data) => inner.Write(offset + byteOffset, data);
    }

    public static IReadOnlyList<string> CopySideFiles(string from, string to)
    {
        var copied = new List<string>();
        foreach (var name in SideFilePatterns)
        {
            var src = Path.Combine(from, name);
            if (!File.Exists(src)) continue;
            File.Copy(src, Path.Combine(to, name), overwrite: true);
            copied.Add(name);
        }
        return copied;
    }
}
