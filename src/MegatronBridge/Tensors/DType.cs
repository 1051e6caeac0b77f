namespace MegatronBridge.Tensors;

/// <summary>Element types that appear in real checkpoints.</summary>
public enum DType
{
    Bool,
    U8,
    I8,
    I16,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
    F8E4M3,
    F8E5M2,
}

internal static class DTypes
{
    public static int Size(this DType dtype) => dtype switch
    {
        DType.Bool or DType.U8 or DType.I8 or DType.F8E4M3 or DType.F8E5M2 => 1,
        DType.I16 or DType.F16 or DType.BF16 => 2,
        DType.I32 or DType.F32 => 4,
        DType.I64 or DType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static bool IsFloating(this DType dtype) =>
        dtype is DType.F16 or DType.BF16 or DType.F32 or DType.F64 or DType.F8E4M3 or DType.F8E5M2;

    /// <summary>The dtype string of the safetensors header ("BF16", "F8_E4M3", ...).</summary>
    public static string SafetensorsName(this DType dtype) => dtype switch
    {
        DType.Bool => "BOOL",
        DType.U8 => "U8",
        DType.I8 => "I8",
        DType.I16 => "I16",
        DType.I32 => "I32",
        DType.I64 => "I64",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.F32 => "F32",
        DType.F64 => "F64",
        DType.F8E4M3 => "F8_E4M3",
        DType.F8E5M2 => "F8_E5M2",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static bool TryFromSafetensorsName(string name, out DType dtype)
    {
        foreach (var candidate in Enum.GetValues<DType>())
        {
            if (candidate.SafetensorsName() == name)
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>The PyTorch name without the "torch." prefix ("bfloat16", "float8_e4m3fn", ...).</summary>
    public static string TorchName(this DType dtype) => dtype switch
    {
        DType.Bool => "bool",
        DType.U8 => "uint8",
        DType.I8 => "int8",
        DType.I16 => "int16",
        DType.I32 => "int32",
        DType.I64 => "int64",
        DType.F16 => "float16",
        DType.BF16 => "bfloat16",
        DType.F32 => "float32",
        DType.F64 => "float64",
        DType.F8E4M3 => "float8_e4m3fn",
        DType.F8E5M2 => "float8_e5m2",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>Accepts torch names with or without "torch." and the common aliases (half, float, long, ...).</summary>
    public static bool TryFromTorchName(string name, out DType dtype)
    {
        var n = name.StartsWith("torch.", StringComparison.Ordinal) ? name["torch.".Length..] : name;
        DType? found = n switch
        {
            "bool" => DType.Bool,
            "uint8" => DType.U8,
            "int8" => DType.I8,
            "int16" or "short" => DType.I16,
            "int32" or "int" => DType.I32,
            "int64" or "long" => DType.I64,
            "float16" or "half" => DType.F16,
            "bfloat16" => DType.BF16,
            "float32" or "float" => DType.F32,
            "float64" or "double" => DType.F64,
            "float8_e4m3fn" => DType.F8E4M3,
            "float8_e5m2" => DType.F8E5M2,
            _ => null,
        };
        dtype = found ?? default;
        return found.HasValue;
    }
}
