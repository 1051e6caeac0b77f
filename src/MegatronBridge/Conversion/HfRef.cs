using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// The part of an HF tensor a mapping reads or writes, as a strided view of that tensor: a whole tensor, or one
/// expert of a packed tensor, possibly transposed (the Qwen3-VL-MoE hub layout). <see cref="View"/> has the logical
/// shape the mapping works with, e.g. [rows, cols] of one expert matrix.
/// </summary>
internal sealed record HfRef(string Name, StridedView View)
{
    public static HfRef Whole(string name, TensorShape shape) => new(name, StridedView.Contiguous(shape));

    public long Rows => View.Shape[0];

    /// <summary>Rows [start, start+length) of the logical view.</summary>
    public StridedView RowRange(long start, long length) => View.Narrow(0, start, length);
}

/// <summary>An HF tensor a mapping touches: its checkpoint name and full shape (the whole packed tensor for experts).</summary>
internal sealed record HfTensorDecl(string Name, TensorShape Shape);
