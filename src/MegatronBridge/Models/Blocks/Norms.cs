namespace MegatronBridge.Models.Blocks;

/// <summary>What a provider's <c>normalization</c> name means for the norm's parameters.</summary>
internal static class Norms
{
    /// <summary>A LayerNorm has a weight and a bias; an RMSNorm only a weight.</summary>
    public static bool HasBias(string normalization) => normalization == "LayerNorm";
}
