using MegatronBridge.Config;
using MegatronBridge.Reference;

namespace MegatronBridge.Jobs;

/// <summary>
/// The reference forward over a Megatron checkpoint on disk: opening the checkpoint (iteration, format, language-only
/// detection, mapping) is job work, so it lives here and hands the Reference layer a plain tensor source.
/// </summary>
internal static class MegatronReferenceModel
{
    /// <summary>
    /// Opens a Megatron checkpoint (torch_dist or legacy) with config.json from the HF folder <paramref name="hfModel"/>;
    /// its weights are read when the forward needs them (dispose the model to close the checkpoint).
    /// </summary>
    public static ReferenceModel Load(string megatronPath, string hfModel)
    {
        var hfConfig = HfConfig.LoadFromFolder(hfModel);
        var (parameters, owner) = MegatronCheckpointWeights.Open(megatronPath, hfModel);
        try
        {
            return ReferenceModel.FromMegatron(hfConfig, parameters, owner);
        }
        catch
        {
            owner.Dispose();
            throw;
        }
    }
}
