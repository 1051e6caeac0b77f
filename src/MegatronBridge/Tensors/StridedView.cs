namespace MegatronBridge.Tensors;

/// <summary>
/// A strided window onto a tensor's row-major elements (offset, shape and strides counted in elements), as in
/// numpy/PyTorch. Every mapping in this project is a rearrangement of such windows, so planning a conversion means
/// computing views, never touching data.
/// </summary>
internal sealed class StridedView
{
    public StridedView(long offset, long[] shape, long[] strides)
    {
        if (shape.Length != strides.Length) throw new ArgumentException("shape and strides differ in rank");
        Offset = offset;
        Shape = shape;
        Strides = strides;
    }

    public long Offset { get; }
    public long[] Shape { get; }
    public long[] Strides { get; }
    public int Rank => Shape.Length;

    public long NumElements
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n = checked(n * d);
            return n;
        }
    }

    public static StridedView Contiguous(TensorShape shape) => new(0, shape.ToArray(), shape.ContiguousStrides());
    public static StridedView Contiguous(params long[] shape) => Contiguous(new TensorShape(shape));

    /// <summary>Elements [start, start+length) of dimension <paramref name="dim"/>.</summary>
    public StridedView Narrow(int dim, long start, long length)
    {
        if (dim < 0 || dim >= Rank) throw new ArgumentOutOfRangeException(nameof(dim));
        if (start < 0 || length < 0 || start + length > Shape[dim])
            throw new ArgumentOutOfRangeException(nameof(start), $"narrow [{start}, {start + length}) outside dim {dim} of size {Shape[dim]}");
        var shape = (long[])Shape.Clone();
        shape[dim] = length;
        return new StridedView(Offset + start * Strides[dim], shape, (long[])Strides.Clone());
    }

    /// <summary>Index <paramref name="index"/> of dimension <paramref name="dim"/>, which is dropped.</summary>
    public StridedView Select(int dim, long index)
    {
        if (index < 0 || index >= Shape[dim]) throw new ArgumentOutOfRangeException(nameof(index), $"index {index} outside dim {dim} of size {Shape[dim]}");
        var shape = Shape.Where((_, i) => i != dim).ToArray();
        var strides = Strides.Where((_, i) => i != dim).ToArray();
        return new StridedView(Offset + index * Strides[dim], shape, strides);
    }

    public StridedView Transpose(int a, int b)
    {
        var shape = (long[])Shape.Clone();
        var strides = (long[])Strides.Clone();
        (shape[a], shape[b]) = (shape[b], shape[a]);
        (strides[a], strides[b]) = (strides[b], strides[a]);
        return new StridedView(Offset, shape, strides);
    }

    public bool IsContiguous
    {
        get
        {
            long s = 1;
            for (int i = Rank - 1; i >= 0; i--)
            {
                if (Shape[i] != 1 && Strides[i] != s) return false;
                s *= Shape[i];
            }
            return true;
        }
    }

    public override string ToString() => $"view(offset {Offset}, shape [{string.Join(", ", Shape)}], strides [{string.Join(", ", Strides)}])";
}
