using MegatronBridge.Config;
using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>Token ids ready for the model, with <c>mm_token_type_ids</c> (0 text, 1 image) of the same length.</summary>
internal sealed record ExpandedPrompt(int[] InputIds, int[] MmTokenTypeIds);

/// <summary>
/// Expands image placeholders the way the Qwen2-VL-family processors do. The chat template writes each image as
/// <c>&lt;|vision_start|&gt;&lt;|image_pad|&gt;&lt;|vision_end|&gt;</c>; the processor repeats the image pad token
/// once per merged patch, grid_t * grid_h * grid_w / merge^2 times. A placeholder that the template did not frame
/// gets the vision start / end tokens added, so both prompt styles give the same ids.
/// </summary>
internal static class PromptBuilder
{
    public const int TextTokenType = 0;
    public const int ImageTokenType = 1;

    /// <summary>What the Qwen chat templates write for one image, before expansion.</summary>
    public const string ImageBlock = "<|vision_start|><|image_pad|><|vision_end|>";

    /// <summary>transformers' default spatial_merge_size for the Qwen-VL vision encoders.</summary>
    public const int DefaultMergeSize = 2;

    /// <summary>
    /// Expands each occurrence of the config's image_token_id, in order, for the image of the same index in
    /// <paramref name="grids"/>; the merge size comes from vision_config.spatial_merge_size.
    /// </summary>
    public static ExpandedPrompt ExpandImagePlaceholders(IReadOnlyList<int> ids, IReadOnlyList<GridThw> grids, HfConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        int mergeSize = config.Vision?.SpatialMergeSize ?? DefaultMergeSize;
        return ExpandImagePlaceholders(ids, grids, mergeSize, VisionTokenIds.FromConfig(config));
    }

    public static ExpandedPrompt ExpandImagePlaceholders(IReadOnlyList<int> ids, IReadOnlyList<GridThw> grids, int mergeSize, VisionTokenIds tokens)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(grids);
        ArgumentNullException.ThrowIfNull(tokens);
        int placeholders = ids.Count(id => id == tokens.ImageTokenId);
        if (placeholders != grids.Count)
            throw new InvalidInputException($"the prompt has {placeholders} image placeholder(s) (token {tokens.ImageTokenId}) but {grids.Count} image(s) were given");

        var output = new List<int>(ids.Count + grids.Sum(g => g.NumTokens(mergeSize) + 1));
        var types = new List<int>(output.Capacity);
        void Add(int id, int type)
        {
            output.Add(id);
            types.Add(type);
        }

        int image = 0;
        for (int i = 0; i < ids.Count; i++)
        {
            int id = ids[i];
            if (id != tokens.ImageTokenId)
            {
                Add(id, TextTokenType);
                continue;
            }
            bool framedBefore = i > 0 && ids[i - 1] == tokens.VisionStartTokenId;
            bool framedAfter = i + 1 < ids.Count && ids[i + 1] == tokens.VisionEndTokenId;
            if (!framedBefore) Add(tokens.VisionStartTokenId, TextTokenType);
            int count = grids[image++].NumTokens(mergeSize);
            for (int k = 0; k < count; k++) Add(tokens.ImageTokenId, ImageTokenType);
            if (!framedAfter) Add(tokens.VisionEndTokenId, TextTokenType);
        }
        return new ExpandedPrompt(output.ToArray(), types.ToArray());
    }
}
