namespace MegatronBridge.Preprocessing;

/// <summary>Which resampling filter the image processor uses (the PIL enum numbers that preprocessor_config.json stores).</summary>
internal enum ResampleFilter
{
    Bilinear = 2,
    Bicubic = 3,
}
