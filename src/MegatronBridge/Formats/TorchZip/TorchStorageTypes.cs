using MegatronBridge.Formats.Pickle;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchZip;

/// <summary>The legacy typed-storage class names that torch.save puts in data.pkl (torch.BFloat16Storage, ...).</summary>
internal static class TorchStorageTypes
{
    public static string StorageClassName(DType dtype) => dtype switch
    {
        DType.BF16 => "BFloat16Storage",
        DType.F16 => "HalfStorage",
        DType.F32 => "FloatStorage",
        DType.F64 => "DoubleStorage",
        DType.I64 => "LongStorage",
        DType.I32 => "IntStorage",
        DType.I16 => "ShortStorage",
        DType.I8 => "CharStorage",
        DType.U8 => "ByteStorage",
        DType.Bool => "BoolStorage",
        _ => throw new NotSupportedException($"dtype {dtype.TorchName()} has no torch storage class in scope"),
    };

    public static bool TryFromStorageClass(PyGlobal storageClass, out DType dtype)
    {
        dtype = default;
        if (storageClass.Module != "torch") return false;
        foreach (var candidate in new[] { DType.BF16, DType.F16, DType.F32, DType.F64, DType.I64, DType.I32, DType.I16, DType.I8, DType.U8, DType.Bool })
        {
            if (StorageClassName(candidate) == storageClass.Name)
            {
                dtype = candidate;
                return true;
            }
        }
        return false;
    }
}
