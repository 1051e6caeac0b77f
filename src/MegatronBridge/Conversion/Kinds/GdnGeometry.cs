namespace MegatronBridge.Conversion.Kinds;

/// <summary>Gated DeltaNet geometry: key heads nk, value heads nv, head dims dk, dv (docs/mappings.md, GDN
/// in_proj).</summary>
internal sealed record GdnGeometry(int KeyHeads, int ValueHeads, int KeyHeadDim, int ValueHeadDim)
{
    public long QkDim => (long)KeyHeads * KeyHeadDim;
    public long VDim => (long)ValueHeads * ValueHeadDim;
    public long ConvChannels => 2 * QkDim + VDim;
    public long InProjRows => 2 * QkDim + 2 * VDim + 2L * ValueHeads;

    /// <summary>megatron-core's GatedDeltaNet asserts: nv % nk == 0, nk % tp == 0, nv % tp == 0.</summary>
    public string? Problem(int tp)
    {
        if (KeyHeads <= 0 || ValueHeads <= 0 || KeyHeadDim <= 0 || ValueHeadDim <= 0) return $"bad GDN geometry {this}";
        if (ValueHeads % KeyHeads != 0) return $"{ValueHeads} value heads are not a multiple of {KeyHeads} key heads";
        if (KeyHeads % tp != 0 || ValueHeads % tp != 0) return $"GDN heads ({KeyHeads} key, {ValueHeads} value) cannot be split over tensor-parallel size {tp}";
        return null;
    }
}
