namespace MegatronBridge.Reference;

/// <summary>Where a stored <see cref="Matrix"/> reads its rows from (a tensor on disk, or several joined).</summary>
internal interface IMatrixRows
{
    /// <summary>Rows [start, start + count) as float32, count x cols values.</summary>
    void ReadRows(int start, int count, Span<float> destination);

    /// <summary>True when any read costs as much as reading every row (a transposed layout): read it in one block.</summary>
    bool ReadsWhole { get; }
}
