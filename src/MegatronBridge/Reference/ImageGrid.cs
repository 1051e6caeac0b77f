using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>One image's patch grid (temporal, height, width in patches), as image_grid_thw gives it.</summary>
internal readonly record struct ImageGrid(int T, int H, int W)
{
    public int Patches => T * H * W;

    /// <summary>Parses "1,4,4" (CLI) into a grid.</summary>
    public static ImageGrid Parse(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 3 || !int.TryParse(parts[0], out int t) || !int.TryParse(parts[1], out int h) || !int.TryParse(parts[2], out int w) || t <= 0 || h <= 0 || w <= 0)
            throw new InvalidInputException($"image grid '{text}' is not three positive integers t,h,w");
        return new ImageGrid(t, h, w);
    }

    public void Validate(int mergeSize, string where)
    {
        if (T <= 0 || H <= 0 || W <= 0 || H % mergeSize != 0 || W % mergeSize != 0)
            throw new InvalidInputException($"{where}: image grid [{T}, {H}, {W}] must be positive with h and w multiples of spatial_merge_size {mergeSize}");
    }
}
