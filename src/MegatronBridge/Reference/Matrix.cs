namespace MegatronBridge.Reference;

/// <summary>
/// A float32 weight matrix in the PyTorch Linear layout [rows = out features, cols = in features], row-major.
/// Every projection of the reference forward is <c>y = x @ W^T (+ b)</c> over one of these.
/// </summary>
public sealed class Matrix
{
    public Matrix(float[] data, int rows, int cols, string name)
    {
        if (rows <= 0 || cols <= 0 || (long)rows * cols != data.Length)
            throw new InvalidDataException($"{name}: {data.Length} values do not form a [{rows}, {cols}] matrix");
        Data = data;
        Rows = rows;
        Cols = cols;
        Name = name;
    }

    public float[] Data { get; }
    public int Rows { get; }
    public int Cols { get; }
    /// <summary>Where the weight came from, for messages.</summary>
    public string Name { get; }

    public ReadOnlySpan<float> Row(int r) => Data.AsSpan(r * Cols, Cols);

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
