namespace MegatronBridge.Conversion;

/// <summary>
/// The pipeline stage a module outside the language model's decoder sits on, stated by the model block that builds
/// it (a vision encoder runs before the first decoder layer, so it sits on the first stage). Parameters that do not
/// state one are placed by megatron-core's GPT layout (see <see cref="MegatronNaming"/>).
/// </summary>
internal enum PipelineStage
{
    First,
    Last,
}
