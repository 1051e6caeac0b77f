namespace MegatronBridge.Preprocessing;

/// <summary>
/// How the 8-bit antialiased resize quantises its filter weights. Both libraries compute the same double-precision
/// weights and run two separable passes (horizontal, then vertical) through an 8-bit intermediate image; they differ
/// only in the fixed-point precision of the weights, which moves a rare output value by one level.
/// </summary>
internal enum ResampleArithmetic
{
    /// <summary>
    /// torch's uint8 antialias kernel, used by torchvision's <c>resize(..., antialias=True)</c> on uint8 images, which
    /// is what transformers 5's default (torchvision-backed) image processors run: int16 weights whose precision is the
    /// largest that keeps the largest weight below 2^15.
    /// </summary>
    Torchvision,

    /// <summary>Pillow's <c>Image.resize</c> (transformers' PIL backend): int32 weights with 22 fractional bits.</summary>
    Pillow,
}
