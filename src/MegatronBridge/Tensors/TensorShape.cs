using System.Collections;

namespace MegatronBridge.Tensors;

/// <summary>An immutable tensor shape with value equality.</summary>
public readonly struct TensorShape : IEquatable<TensorShape>, IReadOnlyList<long>
{
    private readonly long[]? _dims;

    public TensorShape(params long[] dims)
    {
        foreach (var d in dims)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", dims)}]");
        }
        _dims = (long[])dims.Clone();
    }

    public TensorShape(IEnumerable<long> dims) : this(dims.ToArray()) { }

    public static TensorShape Scalar => new(Array.Empty<long>());

    private long[] Dims => _dims ?? Array.Empty<long>();
    public int Rank => Dims.Length;
    public int Count => Dims.Length;
    public long this[int index] => Dims[index];

    public long NumElements
    {
        get
        {
            long n = 1;
            foreach (var d in Dims) n = checked(n * d);
            return n;
        }
    }

    public long[] ToArray() => (long[])Dims.Clone();
    public ReadOnlySpan<long> AsSpan() => Dims;

    /// <summary>Row-major element strides.</summary>
    public long[] ContiguousStrides()
    {
        var strides = new long[Rank];
        long s = 1;
        for (int i = Rank - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Dims[i];
        }
        return strides;
    }

    public TensorShape WithDim(int dim, long size)
    {
        var d = ToArray();
        d[dim] = size;
        return new TensorShape(d);
    }

    public TensorShape DropFirst() => new(Dims.Skip(1));

    public bool Equals(TensorShape other) => Dims.AsSpan().SequenceEqual(other.Dims);
    public override bool Equals(object? obj) => obj is TensorShape s && Equals(s);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in Dims) h.Add(d);
        return h.ToHashCode();
    }
    public static bool operator ==(TensorShape a, TensorShape b) => a.Equals(b);
    public static bool operator !=(TensorShape a, TensorShape b) => !a.Equals(b);
    public override string ToString() => "[" + string.Join(", ", Dims) + "]";
    public IEnumerator<long> GetEnumerator() => ((IEnumerable<long>)Dims).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
