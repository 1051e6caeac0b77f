using System.Buffers;
using System.Runtime.InteropServices;
using MegatronBridge.IO;

namespace MegatronBridge.Tensors;

/// <summary>
/// A view of a source holding blockwise-scaled FP8 weights (the layout of DeepSeek-V3 and Qwen's "-FP8" releases:
/// a 2-D <c>F8_E4M3</c> weight <c>W</c> and beside it <c>W_scale_inv</c>, one F32 or BF16 scale per
/// <c>blockRows</c> x <c>blockCols</c> block, ceil-divided at the edges) in which every such weight reads as a plain
/// tensor of <see cref="OutputDType"/> and the scale tensors are hidden. Element (r, c) is
/// <c>float32(W[r, c]) * float32(scale[r / blockRows, c / blockCols])</c> rounded to nearest even into the output
/// dtype, as Megatron-Bridge's <c>dequantize_fp8_blockwise</c> computes it. Recipes and everything that reads sources
/// (import, verify, the reference forward) then see dequantised weights without knowing about FP8; values are
/// produced per read, so memory stays bounded by the caller's buffer plus one FP8 block of it.
/// </summary>
internal sealed class BlockScaledFp8Source : ITensorSource
{
    public const string ScaleSuffix = "_scale_inv";

    private readonly ITensorSource _inner;
    private readonly Dictionary<string, Quantized> _quantized = new(StringComparer.Ordinal);
    private readonly List<TensorMeta> _tensors = new();

    private sealed record Quantized(TensorMeta Weight, TensorMeta Scale, TensorMeta Presented)
    {
        /// <summary>Block rows whose scales were checked, and how many of them were out of range.</summary>
        public readonly HashSet<long> CheckedBlockRows = new();
        public long OutOfRange;
    }

    /// <param name="inner">The checkpoint as stored.</param>
    /// <param name="outputDType">What the dequantised weights read as (bf16 for Qwen's releases, or the import's --torch-dtype).</param>
    public BlockScaledFp8Source(ITensorSource inner, int blockRows, int blockCols, DType outputDType)
    {
        if (blockRows <= 0 || blockCols <= 0) throw new ArgumentOutOfRangeException(nameof(blockRows), $"{inner.Description}: FP8 block size [{blockRows}, {blockCols}] must be positive");
        if (!outputDType.IsFloating() || outputDType is DType.F8E4M3 or DType.F8E5M2)
            throw new ArgumentException($"cannot dequantise FP8 weights to {outputDType}", nameof(outputDType));
        _inner = inner;
        BlockRows = blockRows;
        BlockCols = blockCols;
        OutputDType = outputDType;
        var scales = new HashSet<string>(StringComparer.Ordinal);
        foreach (var meta in inner.Tensors)
        {
            if (meta.DType != DType.F8E4M3) continue;
            string scaleName = meta.Name + ScaleSuffix;
            if (!inner.TryGet(scaleName, out var scale))
                throw new InvalidInputException($"{inner.Description}: FP8 tensor '{meta.Name}' has no '{scaleName}' beside it");
            if (meta.Shape.Rank != 2)
                throw new InvalidInputException($"{inner.Description}: FP8 tensor '{meta.Name}' has shape {meta.Shape}; blockwise scales need a 2-D weight");
            if (scale.DType is not (DType.F32 or DType.BF16))
                throw new InvalidInputException($"{inner.Description}: '{scaleName}' is {scale.DType.SafetensorsName()}; FP8 block scales must be F32 or BF16");
            long rows = (meta.Shape[0] + blockRows - 1) / blockRows, cols = (meta.Shape[1] + blockCols - 1) / blockCols;
            if (scale.Shape.Rank != 2 || scale.Shape[0] != rows || scale.Shape[1] != cols)
                throw new InvalidInputException($"{inner.Description}: '{scaleName}' has shape {scale.Shape}; weight {meta.Shape} in [{blockRows}, {blockCols}] blocks needs [{rows}, {cols}]");
            _quantized[meta.Name] = new Quantized(meta, scale, meta with { DType = outputDType });
            scales.Add(scaleName);
        }
        foreach (var meta in inner.Tensors)
        {
            if (scales.Contains(meta.Name)) continue;
            _tensors.Add(_quantized.TryGetValue(meta.Name, out var q) ? q.Presented : meta);
        }
    }

    public int BlockRows { get; }
    public int BlockCols { get; }
    public DType OutputDType { get; }
    public string Description => _inner.Description;
    public IReadOnlyList<TensorMeta> Tensors => _tensors;

    /// <summary>Names of the weights read dequantised (as stored: FP8 with a scale tensor).</summary>
    public IReadOnlyCollection<string> QuantizedTensors => _quantized.Keys;

    /// <summary>The stored FP8 weight and scale tensor of a dequantised weight.</summary>
    public (TensorMeta Weight, TensorMeta Scale)? StoredAs(string name) =>
        _quantized.TryGetValue(name, out var q) ? (q.Weight, q.Scale) : null;

    public bool TryGet(string name, out TensorMeta meta)
    {
        if (_quantized.TryGetValue(name, out var q))
        {
            meta = q.Presented;
            return true;
        }
        if (name.EndsWith(ScaleSuffix, StringComparison.Ordinal) && _quantized.ContainsKey(name[..^ScaleSuffix.Length]))
        {
            meta = null!;
            return false;
        }
        return _inner.TryGet(name, out meta);
    }

    /// <summary>Elements dequantised per step: the FP8 bytes, their float32 values and one row band of scales stay small.</summary>
    private const int StepElements = 1 << 18;

    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        if (!_quantized.TryGetValue(name, out var q))
        {
            if (!TryGet(name, out _)) throw new InvalidInputException($"{Description}: no tensor named '{name}'");
            _inner.Read(name, byteOffset, destination);
            return;
        }
        int size = OutputDType.Size();
        if (byteOffset % size != 0 || destination.Length % size != 0)
            throw new ArgumentException($"{Description}: read of '{name}' at byte {byteOffset} (+{destination.Length}) is not aligned to its {size}-byte elements");
        long first = byteOffset / size, count = destination.Length / size;
        if (first < 0 || first + count > q.Presented.NumElements)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{Description}: read of '{name}' past its {q.Presented.NumElements} elements");
        long cols = q.Weight.Shape[1];
        long scaleCols = q.Scale.Shape[1];
        var fp8 = ArrayPool<byte>.Shared.Rent(StepElements);
        var values = ArrayPool<float>.Shared.Rent(StepElements);
        float[]? scales = null;
        try
        {
            for (long done = 0; done < count;)
            {
                int n = (int)Math.Min(StepElements, count - done);
                long at = first + done;
                _inner.Read(q.Weight.Name, at, fp8.AsSpan(0, n));
                // The scale rows covering these elements: [blockRow(at), blockRow(at + n - 1)].
                long blockRow0 = at / cols / BlockRows, blockRow1 = (at + n - 1) / cols / BlockRows;
                int scaleCount = checked((int)((blockRow1 - blockRow0 + 1) * scaleCols));
                if (scales == null || scales.Length < scaleCount)
                {
                    if (scales != null) ArrayPool<float>.Shared.Return(scales);
                    scales = ArrayPool<float>.Shared.Rent(scaleCount);
                }
                ReadScales(q.Scale, blockRow0 * scaleCols, scales.AsSpan(0, scaleCount));
                CheckScales(q, blockRow0, scales.AsSpan(0, scaleCount), (int)scaleCols);
                var v = values.AsSpan(0, n);
                Float8E4M3.ToSingle(fp8.AsSpan(0, n), v);
                long row = at / cols, col = at % cols;
                for (int i = 0; i < n;)
                {
                    // One run: the rest of this row inside one column block.
                    long blockCol = col / BlockCols;
                    int run = (int)Math.Min(n - i, Math.Min(cols - col, (blockCol + 1) * BlockCols - col));
                    float s = scales[(row / BlockRows - blockRow0) * scaleCols + blockCol];
                    for (int k = i; k < i + run; k++) v[k] *= s;
                    i += run;
                    col += run;
                    if (col == cols) { col = 0; row++; }
                }
                ElementConvert.FromSingle(v, OutputDType, destination.Slice((int)(done * size), n * size));
                done += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(fp8);
            ArrayPool<float>.Shared.Return(values);
            if (scales != null) ArrayPool<float>.Shared.Return(scales);
        }
    }

    /// <summary>
    /// Counts scales that are not positive and finite (NaN, infinite, zero or negative: a release's scales are amax / 448),
    /// each block row once however often it is read.
    /// </summary>
    private static void CheckScales(Quantized q, long blockRow0, ReadOnlySpan<float> scales, int scaleCols)
    {
        lock (q)
        {
            for (int r = 0; r * scaleCols < scales.Length; r++)
            {
                if (!q.CheckedBlockRows.Add(blockRow0 + r)) continue;
                foreach (var s in scales.Slice(r * scaleCols, scaleCols))
                    if (!(s > 0 && float.IsFinite(s))) q.OutOfRange++;
            }
        }
    }

    /// <summary>Scale tensors read so far with scales that are not positive and finite, and how many, in tensor order.</summary>
    public IReadOnlyList<(string Scale, long Count)> OutOfRangeScales()
    {
        var found = new List<(string, long)>();
        foreach (var meta in _inner.Tensors)
        {
            if (!_quantized.TryGetValue(meta.Name, out var q)) continue;
            lock (q)
            {
                if (q.OutOfRange > 0) found.Add((q.Scale.Name, q.OutOfRange));
            }
        }
        return found;
    }

    private void ReadScales(TensorMeta scale, long firstElement, Span<float> destination)
    {
        int size = scale.DType.Size();
        var raw = ArrayPool<byte>.Shared.Rent(destination.Length * size);
        try
        {
            var bytes = raw.AsSpan(0, destination.Length * size);
            _inner.Read(scale.Name, firstElement * size, bytes);
            ElementConvert.ToSingle(bytes, scale.DType, destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }
}
