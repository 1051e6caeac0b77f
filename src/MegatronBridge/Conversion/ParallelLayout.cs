using MegatronBridge.IO;

namespace MegatronBridge.Conversion;

/// <summary>Where a global decoder layer lives: pipeline stage, virtual chunk on that stage, and its local index.</summary>
public readonly record struct LayerPlacement(int PpRank, int VppChunk, int LocalLayer);

/// <summary>Where a global expert lives: expert-parallel rank and its local index there.</summary>
public readonly record struct ExpertPlacement(int EpRank, int LocalExpert);

/// <summary>
/// Megatron's parallel sizes: tensor (Tp), pipeline (Pp), virtual pipeline chunks per stage (Vpp), expert (Ep) and
/// expert-tensor (Etp). Layers split evenly (Megatron's default): chunk v of stage p holds the global layers from
/// v·L/Vpp + p·L/(Pp·Vpp), L/(Pp·Vpp) of them, renumbered from 0. Expert e lives on EP rank e / (E/Ep) as local
/// expert e % (E/Ep). Expert weights are split over Etp instead of Tp.
/// </summary>
public sealed record ParallelLayout
{
    public ParallelLayout(int tp = 1, int pp = 1, int vpp = 1, int ep = 1, int etp = 0)
    {
        Tp = tp;
        Pp = pp;
        Vpp = vpp;
        Ep = ep;
        Etp = etp == 0 ? tp : etp;
        foreach (var (name, value) in new[] { ("tensor", Tp), ("pipeline", Pp), ("virtual pipeline", Vpp), ("expert", Ep), ("expert-tensor", Etp) })
        {
            if (value < 1) throw new InvalidInputException($"{name}-parallel size must be at least 1, got {value}");
        }
    }

    public static ParallelLayout Single { get; } = new();

    public int Tp { get; }
    public int Pp { get; }
    public int Vpp { get; }
    public int Ep { get; }
    /// <summary>Expert-tensor-parallel size (Megatron's default: equal to Tp).</summary>
    public int Etp { get; }

    public int FirstStage => 0;
    public int LastStage => Pp - 1;

    /// <summary>Checks the sizes against a model; every problem in one message.</summary>
    public void Validate(int numLayers, int numExperts, string where)
    {
        var problems = new List<string>();
        if (numLayers % (Pp * Vpp) != 0)
            problems.Add($"{numLayers} decoder layers cannot be split evenly over {Pp} pipeline stages x {Vpp} virtual chunks");
        if (Vpp > 1 && Pp == 1)
            problems.Add("virtual pipeline chunks need a pipeline size above 1");
        if (numExperts > 0 && numExperts % Ep != 0)
            problems.Add($"{numExperts} experts cannot be split evenly over expert-parallel size {Ep}");
        if (numExperts == 0 && Ep > 1)
            problems.Add($"expert-parallel size {Ep} for a model without experts");
        if (problems.Count > 0) throw new InvalidInputException($"{where}: parallel layout {this} does not fit the model: {string.Join("; ", problems)}");
    }

    public int LayersPerChunk(int numLayers) => numLayers / (Pp * Vpp);

    /// <summary>The first global layer and the layer count of chunk <paramref name="vpp"/> of stage <paramref name="pp"/>.</summary>
    public (int Start, int Count) LayerRange(int pp, int vpp, int numLayers)
    {
        CheckStage(pp, vpp);
        int per = LayersPerChunk(numLayers);
        return (vpp * (numLayers / Vpp) + pp * per, per);
    }

    public LayerPlacement PlaceLayer(int globalLayer, int numLayers)
    {
        if ((uint)globalLayer >= (uint)numLayers) throw new ArgumentOutOfRangeException(nameof(globalLayer), $"layer {globalLayer} outside [0, {numLayers})");
        int per = LayersPerChunk(numLayers);
        int perVirtual = numLayers / Vpp;
        int vpp = globalLayer / perVirtual;
        int within = globalLayer % perVirtual;
        return new LayerPlacement(within / per, vpp, within % per);
    }

    public int GlobalLayer(int pp, int vpp, int localLayer, int numLayers)
    {
        var (start, count) = LayerRange(pp, vpp, numLayers);
        if ((uint)localLayer >= (uint)count) throw new ArgumentOutOfRangeException(nameof(localLayer), $"local layer {localLayer} outside [0, {count})");
        return start + localLayer;
    }

    public int ExpertsPerRank(int numExperts) => numExperts / Ep;

    public ExpertPlacement PlaceExpert(int globalExpert, int numExperts)
    {
        if ((uint)globalExpert >= (uint)numExperts) throw new ArgumentOutOfRangeException(nameof(globalExpert), $"expert {globalExpert} outside [0, {numExperts})");
        int per = ExpertsPerRank(numExperts);
        return new ExpertPlacement(globalExpert / per, globalExpert % per);
    }

    public int GlobalExpert(int epRank, int localExpert, int numExperts)
    {
        int per = ExpertsPerRank(numExperts);
        if ((uint)epRank >= (uint)Ep || (uint)localExpert >= (uint)per)
            throw new ArgumentOutOfRangeException(nameof(localExpert), $"EP rank {epRank} / local expert {localExpert} outside {Ep} x {per}");
        return epRank * per + localExpert;
    }

    private void CheckStage(int pp, int vpp)
    {
        if ((uint)pp >= (uint)Pp) throw new ArgumentOutOfRangeException(nameof(pp), $"pipeline rank {pp} outside [0, {Pp})");
        if ((uint)vpp >= (uint)Vpp) throw new ArgumentOutOfRangeException(nameof(vpp), $"virtual chunk {vpp} outside [0, {Vpp})");
    }

    public override string ToString() => $"tp={Tp} pp={Pp} vpp={Vpp} ep={Ep} etp={Etp}";
}
