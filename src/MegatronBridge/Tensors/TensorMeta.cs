namespace MegatronBridge.Tensors;

/// <summary>What a tensor is, without its data: name, element type and shape.</summary>
public sealed record TensorMeta(string Name, DType DType, TensorShape Shape)
{
    public long NumElements => Shape.NumElements;
    public long ByteLength => checked(Shape.NumElements * DType.Size());
    public override string ToString() => $"{Name} {DType.SafetensorsName()} {Shape}";
}
