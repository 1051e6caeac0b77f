namespace MegatronBridge.Providers;

/// <summary>What the token mixer of one decoder layer is (mcore's linear-attention pattern: 1 = GDN, 0 = attention).</summary>
public enum DecoderLayerKind
{
    GatedDeltaNet,
    Attention,
}

internal static class DecoderLayerKinds
{
    /// <summary>"G" for Gated DeltaNet, "A" for standard attention (the letters of the layout string).</summary>
    public static char Letter(this DecoderLayerKind kind) => kind == DecoderLayerKind.GatedDeltaNet ? 'G' : 'A';

    /// <summary>The layout string, e.g. "G G G A G G G A".</summary>
    public static string Layout(IEnumerable<DecoderLayerKind> kinds) => string.Join(' ', kinds.Select(k => k.Letter()));
}
