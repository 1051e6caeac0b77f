namespace MegatronBridge.Formats.Safetensors;

/// <summary>Order of the tensors inside one written file (header keys and data follow the same order).</summary>
internal enum SafetensorsTensorOrder
{
    /// <summary>
    /// What the <c>safetensors</c> library (and so transformers' save_pretrained) does whatever order it is given:
    /// larger-alignment dtypes first (its dtype enum order, descending), then names in code point order.
    /// </summary>
    LikeSafetensorsLibrary,
    /// <summary>Exactly the order the caller lists the tensors in.</summary>
    AsGiven,
}

/// <summary>How a single .safetensors file is laid out and written.</summary>
internal sealed record SafetensorsWriteOptions
{
    /// <summary>The metadata transformers writes (<c>{"format": "pt"}</c>).</summary>
    public static readonly IReadOnlyList<KeyValuePair<string, string>> PyTorchMetadata = [new("format", "pt")];

    public static readonly SafetensorsWriteOptions Default = new();

    /// <summary>The <c>__metadata__</c> entries in writing order; null writes no <c>__metadata__</c> at all.</summary>
    public IReadOnlyList<KeyValuePair<string, string>>? Metadata { get; init; } = PyTorchMetadata;

    public SafetensorsMetadataPosition MetadataPosition { get; init; } = SafetensorsMetadataPosition.First;

    public SafetensorsTensorOrder Order { get; init; } = SafetensorsTensorOrder.LikeSafetensorsLibrary;

    /// <summary>Size of the buffer that merges adjacent small writes into one file write.</summary>
    public int WriteBufferBytes { get; init; } = 4 << 20;

    /// <summary>fsync the file before it is renamed into place, so that a power loss cannot leave a finished-looking torn file.</summary>
    public bool FlushToDisk { get; init; } = true;
}
