using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.Checkpoints;

/// <summary>
/// Writes an exported Hugging Face folder: the tensors of an export plan as safetensors (in the original checkpoint's
/// shard layout when it is known and no shard size is asked for, else sharded by size as save_pretrained does), and
/// the config, generation, tokenizer and processor files copied from the original folder.
/// </summary>
public static class HfFolderWriter
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
        ConversionProgress? progress = null)
    {
        var metas = recipes.Select(r => r.Output).ToList();
        var plan = original != null && maxShardBytes is null && metas.All(m => original.Contains(m.Name))
            ? SafetensorsShardPlan.FromCheckpoint(metas, original)
            : SafetensorsShardPlan.BySize(metas, maxShardBytes ?? ShardSize.Parse("5GB"));
        using (var writer = SafetensorsCheckpointWriter.Create(folder, plan))
        {
            // Every tensor's place in its file is fixed by the plan, so a few runs of tensors are produced at once,
            // each in order (bytes identical to one producer; memory: two executor buffers per run).
            BoundedParallel.ForEach(ContiguousRuns(recipes, BoundedParallel.DefaultDegree), BoundedParallel.DefaultDegree, run =>
            {
                foreach (var recipe in run)
                {
                    executor.Execute(recipe, megatron, writer.Sink(recipe.Output.Name));
                    progress?.Add(recipe.Output.ByteLength);
                }
            });
            writer.Commit();
        }
        CopySideFiles(originalFolder, folder);
    }

    /// <summary>Consecutive runs of recipes holding about equal bytes, at most <paramref name="count"/>.</summary>
    internal static List<List<TensorRecipe>> ContiguousRuns(IReadOnlyList<TensorRecipe> recipes, int count)
    {
        long total = recipes.Sum(r => r.Output.ByteLength);
        long target = Math.Max(1, (total + count - 1) / Math.Max(1, count));
        var runs = new List<List<TensorRecipe>> { new() };
        long filled = 0;
        foreach (var recipe in recipes)
        {
            if (filled >= target && runs.Count < count)
            {
                runs.Add(new List<TensorRecipe>());
                filled = 0;
            }
            runs[^1].Add(recipe);
            filled += recipe.Output.ByteLength;
        }
        return runs;
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
