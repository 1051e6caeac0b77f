namespace MegatronBridge.Preprocessing;

/// <summary>
/// Cuts a normalised (C, H, W) image into the Qwen2-VL patch rows. The still image is repeated to fill one temporal
/// patch, and rows run in transformers' order (grid_t, grid_h/merge, grid_w/merge, merge, merge) so that the
/// merge x merge patches the vision merger folds into one token are adjacent; each row holds (C, T, P, P).
/// </summary>
internal static class Patchifier
{
    /// <param name="planes">channel-major image (C, H, W) float32.</param>
    public static float[] Patchify(ReadOnlySpan<float> planes, int channels, int height, int width,
        int patchSize, int temporalPatchSize, int mergeSize, out GridThw grid)
    {
        if (channels <= 0 || patchSize <= 0 || temporalPatchSize <= 0 || mergeSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(channels), "channels, patch, temporal patch and merge sizes must be positive");
        int factor = checked(patchSize * mergeSize);
        if (height <= 0 || width <= 0 || height % factor != 0 || width % factor != 0)
            throw new ArgumentException($"image {width}x{height} is not a positive multiple of patch_size * merge_size = {factor}");
        if (planes.Length != (long)channels * height * width)
            throw new ArgumentException($"a {channels}x{height}x{width} image needs {(long)channels * height * width} floats, got {planes.Length}");

        int gridH = height / patchSize, gridW = width / patchSize;
        grid = new GridThw(1, gridH, gridW);
        int rowLength = checked(channels * temporalPatchSize * patchSize * patchSize);
        var output = new float[checked((long)grid.NumPatches * rowLength)];

        int row = 0;
        for (int blockH = 0; blockH < gridH / mergeSize; blockH++)
        for (int blockW = 0; blockW < gridW / mergeSize; blockW++)
        for (int mergeH = 0; mergeH < mergeSize; mergeH++)
        for (int mergeW = 0; mergeW < mergeSize; mergeW++, row++)
        {
            int y0 = (blockH * mergeSize + mergeH) * patchSize;
            int x0 = (blockW * mergeSize + mergeW) * patchSize;
            var dst = output.AsSpan(row * rowLength, rowLength);
            int d = 0;
            for (int c = 0; c < channels; c++)
            for (int t = 0; t < temporalPatchSize; t++) // every temporal slot holds the same still frame
            for (int py = 0; py < patchSize; py++)
            {
                planes.Slice((c * height + y0 + py) * width + x0, patchSize).CopyTo(dst.Slice(d, patchSize));
                d += patchSize;
            }
        }
        return output;
    }
}
