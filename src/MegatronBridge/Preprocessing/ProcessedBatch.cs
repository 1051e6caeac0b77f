namespace MegatronBridge.Preprocessing;

/// <summary>
/// Several images as the processor returns them for one prompt: pixel_values of all images stacked row-wise
/// [sum of rows, RowLength] and one image_grid_thw row per image, in input order.
/// </summary>
internal sealed class ProcessedBatch
{
    public ProcessedBatch(float[] pixelValues, int rowLength, IReadOnlyList<GridThw> grids)
    {
        ArgumentNullException.ThrowIfNull(pixelValues);
        ArgumentNullException.ThrowIfNull(grids);
        long rows = grids.Sum(g => (long)g.NumPatches);
        if (rowLength <= 0 || pixelValues.LongLength != rows * rowLength)
            throw new ArgumentException($"{grids.Count} image(s) with {rows} patch rows of {rowLength} need {rows * rowLength} floats, got {pixelValues.LongLength}", nameof(pixelValues));
        PixelValues = pixelValues;
        RowLength = rowLength;
        Grids = grids;
    }

    public float[] PixelValues { get; }
    public int RowLength { get; }
    public IReadOnlyList<GridThw> Grids { get; }
    public int Rows => PixelValues.Length / RowLength;

    public static ProcessedBatch Concatenate(IReadOnlyList<ProcessedImage> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ArgumentException("no images to batch", nameof(images));
        int rowLength = images[0].RowLength;
        if (images.Any(i => i.RowLength != rowLength))
            throw new ArgumentException("images were processed with different patch settings (row lengths differ)", nameof(images));
        var values = new float[checked(images.Sum(i => (long)i.PixelValues.Length))];
        long at = 0;
        foreach (var image in images)
        {
            image.PixelValues.CopyTo(values, at);
            at += image.PixelValues.Length;
        }
        return new ProcessedBatch(values, rowLength, images.Select(i => i.Grid).ToArray());
    }
}
