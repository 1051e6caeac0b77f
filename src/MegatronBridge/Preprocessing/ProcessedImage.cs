namespace MegatronBridge.Preprocessing;

/// <summary>
/// One image ready for the vision encoder: <c>pixel_values</c> [Rows, RowLength] row-major float32, with
/// RowLength = channels * temporal_patch_size * patch_size^2, and its <c>image_grid_thw</c>.
/// </summary>
internal sealed class ProcessedImage
{
    public ProcessedImage(float[] pixelValues, int rowLength, GridThw grid, int resizedHeight, int resizedWidth)
    {
        ArgumentNullException.ThrowIfNull(pixelValues);
        if (rowLength <= 0 || pixelValues.Length != (long)grid.NumPatches * rowLength)
            throw new ArgumentException($"pixel values of grid {grid} need {(long)grid.NumPatches * rowLength} floats, got {pixelValues.Length}", nameof(pixelValues));
        PixelValues = pixelValues;
        RowLength = rowLength;
        Grid = grid;
        ResizedHeight = resizedHeight;
        ResizedWidth = resizedWidth;
    }

    public float[] PixelValues { get; }
    public int Rows => Grid.NumPatches;
    public int RowLength { get; }
    public GridThw Grid { get; }
    /// <summary>The size the image was resized to before patching (pixels).</summary>
    public int ResizedHeight { get; }
    public int ResizedWidth { get; }

    public ReadOnlySpan<float> Row(int index) => PixelValues.AsSpan(checked(index * RowLength), RowLength);
}
