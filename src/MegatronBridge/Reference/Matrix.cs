using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>
/// A weight matrix in the PyTorch Linear layout [rows = out features, cols = in features], row-major. Every projection
/// of the reference forward is <c>y = x @ W^T (+ b)</c> over one of these.
/// <para>
/// A matrix is either held in memory as float32 (small weights, tests) or stored: its values stay on disk in their
/// stored dtype and are read, a block of rows at a time, when a matmul needs them (<see cref="IMatrixRows"/>), so a
/// model's weights never have to fit in memory.
/// </para>
/// </summary>
internal sealed class Matrix
{
    private readonly float[]? _data;
    private readonly IMatrixRows? _stored;

    public Matrix(float[] data, int rows, int cols, string name)
    {
        if (rows <= 0 || cols <= 0 || (long)rows * cols != data.Length)
            throw new InvalidInputException($"{name}: {data.Length} values do not form a [{rows}, {cols}] matrix");
        _data = data;
        Rows = rows;
        Cols = cols;
        Name = name;
    }

    /// <summary>A matrix whose values are read from <paramref name="stored"/> each time they are used.</summary>
    public Matrix(IMatrixRows stored, int rows, int cols, string name)
    {
        if (rows <= 0 || cols <= 0)
            throw new InvalidInputException($"{name}: [{rows}, {cols}] is not a matrix shape");
        _stored = stored;
        Rows = rows;
        Cols = cols;
        Name = name;
    }

    public int Rows { get; }
    public int Cols { get; }
    /// <summary>Where the weight came from, for messages.</summary>
    public string Name { get; }
    /// <summary>True when the values are held in memory; false when they are read from disk on use.</summary>
    public bool InMemory => _data is not null;

    /// <summary>
    /// The whole matrix as float32. A stored matrix is read in full on every call: for small matrices, inspection
    /// and tests only (the forward reads stored weights through <see cref="ReadRows"/>).
    /// </summary>
    public float[] Data
    {
        get
        {
            if (_data is not null) return _data;
            var all = new float[(long)Rows * Cols];
            ReadRows(0, Rows, all);
            return all;
        }
    }

    /// <summary>
    /// How many rows one read should cover for a block of about <paramref name="elements"/> values (some stored
    /// layouts can only be read whole).
    /// </summary>
    public int BlockRows(long elements) =>
        _stored is { ReadsWhole: true } ? Rows : (int)Math.Clamp(elements / Cols, 1, Rows);

    /// <summary>Rows [start, start + count) as float32 into <paramref name="destination"/> (count x cols values).</summary>
    public void ReadRows(int start, int count, Span<float> destination)
    {
        if (start < 0 || count < 0 || start + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"{Name}: rows [{start}, {start + count}) are outside its {Rows} rows");
        if (destination.Length < count * Cols)
            throw new ArgumentException($"{Name}: a buffer of {destination.Length} values cannot hold {count} rows of {Cols}", nameof(destination));
        if (_data is not null) _data.AsSpan(start * Cols, count * Cols).CopyTo(destination);
        else _stored!.ReadRows(start, count, destination[..(count * Cols)]);
    }

    /// <summary>One row: a view of an in-memory matrix, a fresh copy of a stored one.</summary>
    public ReadOnlySpan<float> Row(int r)
    {
        if (_data is not null) return _data.AsSpan(r * Cols, Cols);
        var row = new float[Cols];
        ReadRows(r, 1, row);
        return row;
    }

    /// <summary>The transpose (for weights stored as [in, out]).</summary>
    public static Matrix FromTransposed(ReadOnlySpan<float> inByOut, int inFeatures, int outFeatures, string name)
    {
        var data = new float[inFeatures * outFeatures];
        for (int i = 0; i < inFeatures; i++)
            for (int o = 0; o < outFeatures; o++)
                data[o * inFeatures + i] = inByOut[i * outFeatures + o];
        return new Matrix(data, outFeatures, inFeatures, name);
    }
}
