using MegatronBridge.Config;
using MegatronBridge.IO;

namespace MegatronBridge.Providers;

/// <summary>HF vision_config -> <see cref="VisionTransformerConfig"/> (Megatron-Bridge's
/// <c>get_vision_model_config</c>).</summary>
internal static class VisionTranslation
{
    public static VisionTransformerConfig FromHf(HfConfig cfg, int tensorModelParallelSize)
    {
        var vc = cfg.Vision ?? throw new InvalidInputException($"{cfg.Where}: a vision-language config needs a 'vision_config' object");
        var depth = Getattr.RequiredPositiveInt(vc, "depth");
        if (depth > ProviderValidation.MaxLayers)
            throw new InvalidInputException($"{vc.Where}: depth ({depth}) is implausibly large (more than {ProviderValidation.MaxLayers})");
        var hidden = Getattr.RequiredPositiveInt(vc, "hidden_size");
        var heads = Getattr.RequiredPositiveInt(vc, "num_heads");
        if (hidden % heads != 0)
            throw new InvalidInputException($"{vc.Where}: hidden_size ({hidden}) is not divisible by num_heads ({heads})");
        var deepstack = vc.DeepstackVisualIndexes;
        for (var i = 0; i < deepstack.Count; i++)
        {
            if (deepstack[i] < 0 || deepstack[i] >= depth)
                throw new InvalidInputException($"{vc.Where}: deepstack_visual_indexes[{i}] = {deepstack[i]} is outside the {depth} vision layers");
        }
        return new VisionTransformerConfig
        {
            NumLayers = depth,
            HiddenSize = hidden,
            NumAttentionHeads = heads,
            FfnHiddenSize = Getattr.RequiredPositiveInt(vc, "intermediate_size"),
            PatchSize = Getattr.RequiredPositiveInt(vc, "patch_size"),
            TemporalPatchSize = Getattr.RequiredPositiveInt(vc, "temporal_patch_size"),
            InChannels = Getattr.RequiredPositiveInt(vc, "in_channels"),
            SpatialMergeSize = Getattr.RequiredPositiveInt(vc, "spatial_merge_size"),
            NumPositionEmbeddings = Getattr.RequiredPositiveInt(vc, "num_position_embeddings"),
            OutHiddenSize = Getattr.RequiredPositiveInt(vc, "out_hidden_size"),
            DeepstackVisualIndexes = deepstack.ToArray(),
            TensorModelParallelSize = tensorModelParallelSize,
        };
    }
}
