namespace MegatronBridge.Reference;

/// <summary>Image input: pixel values [patches, C*T*P*P] in the image processor's patch order and one grid per image.</summary>
internal sealed record ImageInput(float[] PixelValues, IReadOnlyList<ImageGrid> Grids);
