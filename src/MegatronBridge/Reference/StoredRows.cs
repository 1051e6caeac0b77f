using System.Buffers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Reference;

/// <summary>
/// The rows of a [rows, cols] block of a row-major tensor, starting at element <paramref name="firstElement"/> (a
/// whole weight, or one expert of a packed expert tensor), read from the source in its stored dtype when asked.
/// </summary>
internal sealed class TensorRows(ITensorSource source, string name, long firstElement, int cols) : IMatrixRows
{
    public bool ReadsWhole => false;

    public void ReadRows(int start, int count, Span<float> destination) =>
        WeightReader.ReadInto(source, name, firstElement + (long)start * cols, destination[..(count * cols)]);

    /// <summary>
    /// A stored matrix over elements [first, first + rows * cols) of the tensor, after checking that the tensor is
    /// floating point and holds them (nothing is read yet).
    /// </summary>
    public static Matrix Open(ITensorSource source, string name, long firstElement, int rows, int cols, string? display = null)
    {
        WeightReader.CheckRange(source, name, firstElement, (long)rows * cols);
        return new Matrix(new TensorRows(source, name, firstElement, cols), rows, cols, display ?? name);
    }
}

/// <summary>
/// A matrix stored transposed, as [in, out] (the hub's packed Qwen3-VL experts): row o of the matrix is column o of
/// the stored block, so every read goes through the whole block, a bounded number of input rows at a time.
/// </summary>
internal sealed class TransposedTensorRows(ITensorSource source, string name, long firstElement, int inFeatures, int outFeatures) : IMatrixRows
{
    private const int ChunkElements = 1 << 20;

    public bool ReadsWhole => true;

    public void ReadRows(int start, int count, Span<float> destination)
    {
        int perChunk = Math.Max(1, ChunkElements / outFeatures);
        var buffer = ArrayPool<float>.Shared.Rent(perChunk * outFeatures);
        try
        {
            for (int i0 = 0; i0 < inFeatures; i0 += perChunk)
            {
                int rows = Math.Min(perChunk, inFeatures - i0);
                var block = buffer.AsSpan(0, rows * outFeatures);
                WeightReader.ReadInto(source, name, firstElement + (long)i0 * outFeatures, block);
                for (int i = 0; i < rows; i++)
                    for (int o = 0; o < count; o++)
                        destination[o * inFeatures + i0 + i] = block[i * outFeatures + start + o];
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    public static Matrix Open(ITensorSource source, string name, long firstElement, int inFeatures, int outFeatures, string display)
    {
        WeightReader.CheckRange(source, name, firstElement, (long)inFeatures * outFeatures);
        return new Matrix(new TransposedTensorRows(source, name, firstElement, inFeatures, outFeatures), outFeatures, inFeatures, display);
    }
}

/// <summary>
/// Matrices with the same columns stacked by rows (tensor-parallel shards of a column-parallel weight), of which the
/// first <c>rows</c> rows are used (the shards of a padded vocabulary hold a few rows more).
/// </summary>
internal sealed class StackedRows(IReadOnlyList<Matrix> parts) : IMatrixRows
{
    public bool ReadsWhole => false;

    public void ReadRows(int start, int count, Span<float> destination)
    {
        int cols = parts[0].Cols, first = 0, written = 0;
        foreach (var part in parts)
        {
            int from = Math.Max(start, first), to = Math.Min(start + count, first + part.Rows);
            if (from < to)
            {
                part.ReadRows(from - first, to - from, destination.Slice(written * cols, (to - from) * cols));
                written += to - from;
            }
            first += part.Rows;
        }
    }
}

/// <summary>
/// Matrices with the same rows joined along their columns (tensor-parallel shards of a row-parallel weight: rank r
/// holds input features [r * cols / tp, (r + 1) * cols / tp)).
/// </summary>
internal sealed class JoinedColumns(IReadOnlyList<Matrix> parts) : IMatrixRows
{
    public bool ReadsWhole => false;

    public void ReadRows(int start, int count, Span<float> destination)
    {
        int cols = parts.Sum(p => p.Cols), at = 0;
        var buffer = ArrayPool<float>.Shared.Rent(count * parts.Max(p => p.Cols));
        try
        {
            foreach (var part in parts)
            {
                int local = part.Cols;
                var block = buffer.AsSpan(0, count * local);
                part.ReadRows(start, count, block);
                for (int r = 0; r < count; r++) block.Slice(r * local, local).CopyTo(destination.Slice(r * cols + at, local));
                at += local;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }
}
