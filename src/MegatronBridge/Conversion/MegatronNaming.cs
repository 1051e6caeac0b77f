using System.Globalization;
using System.Text.RegularExpressions;
using MegatronBridge.IO;

namespace MegatronBridge.Conversion;

/// <summary>Where a global Megatron parameter lives and what it is called there.</summary>
/// <param name="EpRank">-1 for parameters that are not routed-expert weights.</param>
internal readonly record struct ParamPlacement(int PpRank, int VppChunk, int EpRank, string LocalName);

/// <summary>
/// Global (unsplit, all layers, all experts) Megatron names to the names each rank uses: decoder layers renumbered
/// within their (stage, chunk), experts renumbered within their EP rank. The embedding sits on the first stage, the
/// final norm, output layer and MTP on the last (megatron-core's GPT layout); a module outside the language model (a
/// vision encoder) sits where its model block pinned it (<see cref="MegatronParam.Stage"/>).
/// </summary>
internal sealed class MegatronNaming
{
    private readonly string _mp;
    private readonly int _numLayers;
    private readonly int _numExperts;
    private readonly ParallelLayout _layout;
    private readonly IReadOnlyDictionary<string, PipelineStage> _pinned;
    private readonly Regex _layer;
    private static readonly Regex GroupedExpert = new(@"^(.*\.mlp\.experts\.linear_fc[12]\.weight)(\d+)$", RegexOptions.CultureInvariant | RegexOptions.Compiled);
    private static readonly Regex SequentialExpert = new(@"^(.*\.mlp\.experts\.local_experts\.)(\d+)(\..*)$", RegexOptions.CultureInvariant | RegexOptions.Compiled);

    /// <param name="pinned">Parameters whose model block pinned them to a stage, by global name.</param>
    public MegatronNaming(string languagePrefix, int numLayers, int numExperts, ParallelLayout layout, IReadOnlyDictionary<string, PipelineStage> pinned)
    {
        _pinned = pinned;
        _mp = languagePrefix;
        _numLayers = numLayers;
        _numExperts = numExperts;
        _layout = layout;
        _layer = new Regex($@"^{Regex.Escape(languagePrefix)}decoder\.layers\.(\d+)\.(.*)$", RegexOptions.CultureInvariant);
    }

    public ParamPlacement Place(string globalName)
    {
        int pp, vpp;
        string name = globalName;
        var m = _layer.Match(name);
        if (m.Success)
        {
            var at = _layout.PlaceLayer(Number(m.Groups[1].Value), _numLayers);
            (pp, vpp) = (at.PpRank, at.VppChunk);
            name = $"{_mp}decoder.layers.{at.LocalLayer.ToString(CultureInfo.InvariantCulture)}.{m.Groups[2].Value}";
        }
        else if (_pinned.TryGetValue(globalName, out var stage))
        {
            (pp, vpp) = stage == PipelineStage.First ? (_layout.FirstStage, 0) : (_layout.LastStage, _layout.Vpp - 1);
        }
        else if (name.StartsWith(_mp + "embedding.", StringComparison.Ordinal))
        {
            (pp, vpp) = (_layout.FirstStage, 0);
        }
        else if (name.StartsWith(_mp + "decoder.final_layernorm.", StringComparison.Ordinal) || name.StartsWith(_mp + "output_layer.", StringComparison.Ordinal)
                 || name.StartsWith(_mp + "mtp.", StringComparison.Ordinal))
        {
            (pp, vpp) = (_layout.LastStage, _layout.Vpp - 1);
        }
        else
        {
            throw new InvalidInputException($"{globalName}: cannot tell which pipeline stage holds this parameter");
        }

        int ep = -1;
        var g = GroupedExpert.Match(name);
        var s = g.Success ? Match.Empty : SequentialExpert.Match(name);
        if (g.Success)
        {
            var e = _layout.PlaceExpert(Number(g.Groups[2].Value), _numExperts);
            ep = e.EpRank;
            name = g.Groups[1].Value + e.LocalExpert.ToString(CultureInfo.InvariantCulture);
        }
        else if (s.Success)
        {
            var e = _layout.PlaceExpert(Number(s.Groups[2].Value), _numExperts);
            ep = e.EpRank;
            name = s.Groups[1].Value + e.LocalExpert.ToString(CultureInfo.InvariantCulture) + s.Groups[3].Value;
        }
        return new ParamPlacement(pp, vpp, ep, name);
    }

    /// <summary>The inverse of <see cref="Place"/>: a rank's local name back to the global name.</summary>
    public string ToGlobal(string localName, int pp, int vpp, int epRank)
    {
        string name = localName;
        var m = _layer.Match(name);
        if (m.Success)
        {
            int global = _layout.GlobalLayer(pp, vpp, Number(m.Groups[1].Value), _numLayers);
            name = $"{_mp}decoder.layers.{global.ToString(CultureInfo.InvariantCulture)}.{m.Groups[2].Value}";
        }
        var g = GroupedExpert.Match(name);
        if (g.Success) return g.Groups[1].Value + _layout.GlobalExpert(Math.Max(epRank, 0), Number(g.Groups[2].Value), _numExperts).ToString(CultureInfo.InvariantCulture);
        var s = SequentialExpert.Match(name);
        if (s.Success) return s.Groups[1].Value + _layout.GlobalExpert(Math.Max(epRank, 0), Number(s.Groups[2].Value), _numExperts).ToString(CultureInfo.InvariantCulture) + s.Groups[3].Value;
        return name;
    }

    /// <summary>
    /// In-memory MTP inner-layer name (<c>mtp_model_layer</c>) to the name mcore writes in dist checkpoints
    /// (<c>transformer_layer</c>, megatron-core's legacy name kept for GPT-style MTP; docs/formats.md, Keys and
    /// chunks).
    /// </summary>
    public static string ToCheckpointName(string name) => name.Replace(".mtp_model_layer.", ".transformer_layer.", StringComparison.Ordinal);

    /// <summary>The inverse of <see cref="ToCheckpointName"/> (only MTP layers are renamed).</summary>
    public static string FromCheckpointName(string name) =>
        name.Contains("mtp.layers.", StringComparison.Ordinal) ? name.Replace(".transformer_layer.", ".mtp_model_layer.", StringComparison.Ordinal) : name;

    private static readonly Regex GroupedWeight = new(@"^(.*\.mlp\.experts\.)(linear_fc[12])\.weight(\d+)$", RegexOptions.CultureInvariant | RegexOptions.Compiled);
    private static readonly Regex SequentialWeight = new(@"^(.*\.mlp\.experts\.)local_experts\.(\d+)\.(linear_fc[12])\.weight$", RegexOptions.CultureInvariant | RegexOptions.Compiled);

    /// <summary>
    /// A grouped-GEMM expert weight (<c>experts.linear_fc1.weight3</c>, TEGroupedMLP) under the name megatron-core's
    /// SequentialMLP gives it (<c>experts.local_experts.3.linear_fc1.weight</c>, Megatron-LM without
    /// <c>--moe-grouped-gemm</c>); other names unchanged. Works on global and rank-local names alike.
    /// </summary>
    public static string ToSequentialExpert(string name)
    {
        var m = GroupedWeight.Match(name);
        return m.Success ? $"{m.Groups[1].Value}local_experts.{m.Groups[3].Value}.{m.Groups[2].Value}.weight" : name;
    }

    /// <summary>The inverse of <see cref="ToSequentialExpert"/>: a SequentialMLP expert weight under its grouped-GEMM name.</summary>
    public static string FromSequentialExpert(string name)
    {
        var m = SequentialWeight.Match(name);
        return m.Success ? $"{m.Groups[1].Value}{m.Groups[3].Value}.weight{m.Groups[2].Value}" : name;
    }

    /// <summary>Whether <paramref name="name"/> is a SequentialMLP expert weight.</summary>
    public static bool IsSequentialExpert(string name) => SequentialWeight.IsMatch(name);

    /// <summary>A layer or expert number of a name; one past the int range (or in other scripts' digits) is out of range like any other.</summary>
    private static int Number(string digits) => int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
        ? n
        : throw new ArgumentOutOfRangeException(nameof(digits), $"{digits} is not a layer or expert number");
}
