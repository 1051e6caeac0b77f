namespace MegatronBridge.Formats.Safetensors;

/// <summary>How a checkpoint folder is written.</summary>
internal sealed record SafetensorsCheckpointWriteOptions
{
    public static readonly SafetensorsCheckpointWriteOptions Default = new();

    /// <summary>Layout of each shard file (metadata, tensor order inside a file, buffering).</summary>
    public SafetensorsWriteOptions File { get; init; } = SafetensorsWriteOptions.Default;

    /// <summary>
    /// metadata.total_parameters of the index: null writes the plan's element count, a negative value leaves the
    /// field out (as transformers before 4.56 did).
    /// </summary>
    public long? TotalParameters { get; init; }

    /// <summary>Allow replacing a checkpoint already in the folder (its stale index and shards are removed).</summary>
    public bool Overwrite { get; init; }
}
