using MegatronBridge.Config;
using MegatronBridge.IO;
using MegatronBridge.Reference;

namespace MegatronBridge.Jobs;

/// <summary>
/// The reference forward over a Megatron checkpoint on disk: opening the checkpoint (iteration, format, language-only
/// detection, mapping) is job work, so it lives here and hands the Reference layer a plain tensor source.
/// </summary>
internal static class MegatronReferenceModel
{
    /// <summary>
    /// Whether <paramref name="model"/>, loaded by <see cref="Load"/>, is a language-only checkpoint of a VL model: its
    /// config.json describes a vision tower, but the checkpoint stores none (a VL checkpoint missing the tower is
    /// refused when it is opened, so this is the only way to have none).
    /// </summary>
    public static bool IsLanguageOnly(ReferenceModel model) => model.Config.Vision is not null && model.Weights.Vision is null;

    /// <summary>The input error for images given to a language-only checkpoint (compare and generate).</summary>
    public static InvalidInputException ImagesRefused(string megatronPath, string hfModel) =>
        new($"{megatronPath}: a language-only checkpoint (import --language-only) of the VL model in {Path.Combine(hfModel, "config.json")}: " +
            "it has no vision encoder, so it cannot take images");

    /// <summary>
    /// Opens a Megatron checkpoint (torch_dist or legacy) with config.json from the HF folder <paramref name="hfModel"/>;
    /// its weights are read when the forward needs them (dispose the model to close the checkpoint).
    /// </summary>
    /// <param name="config">The config.json of <paramref name="hfModel"/> when the caller has read it already.</param>
    public static ReferenceModel Load(string megatronPath, string hfModel, HfConfig? config = null)
    {
        var hfConfig = config ?? HfConfig.LoadFromFolder(hfModel);
        var (parameters, owner) = MegatronCheckpointWeights.Open(megatronPath, hfModel, hfConfig);
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
