using System.Globalization;

namespace MegatronBridge.Formats.TorchLegacy;

/// <summary>Megatron-LM's legacy per-rank layout: <c>&lt;iter folder&gt;/mp_rank_XX[_PPP][_EEE]/model_optim_rng.pt</c>.</summary>
internal static class LegacyCheckpointNames
{
    public const string FileName = "model_optim_rng.pt";

    /// <summary>
    /// The rank folder name: <c>mp_rank_{tp:02d}</c>, plus <c>_{pp:03d}</c> when the run has pipeline parallelism
    /// (PP &gt; 1) and <c>_{ep:03d}</c> when it has expert parallelism (EP &gt; 1).
    /// </summary>
    public static string RankFolder(int tensorRank, int pipelineRank = 0, int expertRank = 0, int pipelineSize = 1, int expertSize = 1)
    {
        if (tensorRank < 0 || pipelineRank < 0 || expertRank < 0) throw new ArgumentOutOfRangeException(nameof(tensorRank), "negative rank");
        if (pipelineRank >= pipelineSize || expertRank >= expertSize) throw new ArgumentOutOfRangeException(nameof(pipelineRank), "rank outside its parallel size");
        var name = "mp_rank_" + tensorRank.ToString("D2", CultureInfo.InvariantCulture);
        if (pipelineSize > 1) name += "_" + pipelineRank.ToString("D3", CultureInfo.InvariantCulture);
        if (expertSize > 1) name += "_" + expertRank.ToString("D3", CultureInfo.InvariantCulture);
        return name;
    }

    /// <summary>The path of one rank's file inside an iteration folder.</summary>
    public static string RankFile(string iterationFolder, int tensorRank, int pipelineRank = 0, int expertRank = 0, int pipelineSize = 1, int expertSize = 1) =>
        Path.Combine(iterationFolder, RankFolder(tensorRank, pipelineRank, expertRank, pipelineSize, expertSize), FileName);
}
