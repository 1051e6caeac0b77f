namespace MegatronBridge.Reference;

/// <summary>The decoder families the reference forward knows.</summary>
internal enum ModelFamily
{
    /// <summary>Qwen3.5 / Qwen3.6: hybrid Gated DeltaNet + gated attention, zero-centred RMSNorms.</summary>
    Qwen35,
    /// <summary>Qwen3-VL: plain attention, plain RMSNorms, deepstack visual features.</summary>
    Qwen3VL,
}
