using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>An image's patch grid as transformers' <c>image_grid_thw</c> row: temporal, height and width in patches.</summary>
internal readonly record struct GridThw(int T, int H, int W)
{
    /// <summary>Rows of pixel_values for this image (one per patch).</summary>
    public int NumPatches => checked(T * H * W);

    /// <summary>Image placeholder tokens in the prompt: the vision merger folds merge x merge patches into one token.</summary>
    public int NumTokens(int mergeSize)
    {
        if (mergeSize <= 0) throw new ArgumentOutOfRangeException(nameof(mergeSize), $"merge size must be positive, got {mergeSize}");
        int mergeArea = checked(mergeSize * mergeSize);
        if (NumPatches % mergeArea != 0)
            throw new InvalidInputException($"grid (t={T}, h={H}, w={W}) has {NumPatches} patches, not a multiple of merge_size^2 = {mergeArea}");
        return NumPatches / mergeArea;
    }

    public override string ToString() => $"[{T}, {H}, {W}]";
}
