using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>Qwen3.5 / Qwen3.6 dense vision-language provider; class defaults = Qwen3.5-27B geometry, as Megatron-Bridge
/// declares them.</summary>
internal record Qwen35VLModelProvider : VisionLanguageModelProvider
{
    /// <summary>The hybrid GDN / attention block spec every Qwen3.5 provider uses.</summary>
    public const string HybridLayerSpec = "get_transformer_block_with_experimental_attention_variant_spec";

    public Qwen35VLModelProvider()
    {
        TransformerLayerSpec = HybridLayerSpec;
        LayernormZeroCenteredGamma = true;
        AttentionOutputGate = true;
        ExperimentalAttentionVariant = "gated_delta_net";
        LinearAttentionFreq = LinearAttentionFrequency.Every(4);
        LinearConvKernelDim = 4;
        LinearKeyHeadDim = 128;
        LinearValueHeadDim = 128;
        LinearNumKeyHeads = 16;
        LinearNumValueHeads = 48;
        Normalization = "RMSNorm";
        GatedLinearUnit = true;
        AddBiasLinear = false;
        AddQkvBias = false;
        KvChannels = 256;
        NumQueryGroups = 4;
        HiddenDropout = 0.0;
        RotaryBase = 10_000_000.0;
        RotaryPercent = 0.25;
        SeqLength = 262144;
        MropeSection = new[] { 11, 11, 10 };
        ImageTokenId = 248056;
        VideoTokenId = 248057;
        VisionStartTokenId = 248053;
        VisionEndTokenId = 248054;
        BosTokenId = 248045;
        EosTokenId = 248044;
        HetereogenousDistCheckpoint = true;
    }

    [JsonIgnore] public override string ProviderName => "Qwen35VLModelProvider";
}
