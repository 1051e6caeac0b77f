using System.Text.Json.Nodes;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Models;

/// <summary>The one JSON object <c>megatron-bridge inspect --json</c> prints.</summary>
internal static class ModelInspectionJson
{
    public static JsonObject ToJson(ModelInspection inspection)
    {
        var p = inspection.Provider;
        var kinds = p.DecoderLayerKinds;
        return new JsonObject
        {
            ["folder"] = inspection.Folder,
            ["architecture"] = inspection.Architecture,
            ["bridge"] = inspection.BridgeName,
            ["provider_class"] = p.ProviderName,
            ["model_type"] = inspection.ModelType,
            ["is_vision_language"] = inspection.IsVisionLanguage,
            ["is_moe"] = p.IsMoe,
            ["provider"] = ProviderJson.ToJson(p),
            ["vision"] = p.Vision is null ? null : ProviderJson.ToJson(p.Vision),
            ["layer_types"] = new JsonArray(kinds.Select(k => (JsonNode?)(k == DecoderLayerKind.GatedDeltaNet ? "linear_attention" : "full_attention")).ToArray()),
            ["layer_layout"] = p.LayerLayout,
            ["moe_layers"] = new JsonArray(Enumerable.Range(0, p.NumLayers).Where(p.IsMoeLayer).Select(i => (JsonNode?)i).ToArray()),
            ["mtp"] = new JsonObject
            {
                ["num_layers"] = p.MtpLayers,
                ["tensors_present"] = inspection.HasMtpTensors,
            },
            ["parameters"] = new JsonObject
            {
                ["total"] = inspection.Parameters.Total,
                ["language_model"] = inspection.Parameters.LanguageModel,
                ["vision"] = inspection.Parameters.Vision,
                ["mtp"] = inspection.Parameters.Mtp,
                ["routed_experts"] = inspection.Parameters.RoutedExperts,
                ["active_per_token"] = inspection.Parameters.ActivePerToken,
                ["active_per_token_note"] = "language model only (vision and MTP excluded); routed experts counted topk/E",
            },
            ["weights_present"] = inspection.HasWeights,
            ["tensor_count"] = inspection.TensorCount,
            ["inventory"] = new JsonArray(inspection.Inventory.Select(i => (JsonNode?)new JsonObject
            {
                ["dtype"] = i.DType.TorchName(),
                ["count"] = i.Count,
                ["parameters"] = i.Parameters,
                ["bytes"] = i.Bytes,
            }).ToArray()),
            ["fp8"] = inspection.Fp8 is not { } f ? null : new JsonObject
            {
                ["format"] = "blockwise e4m3 (float8_e4m3fn) with _scale_inv tensors",
                ["weight_block_size"] = new JsonArray(f.BlockRows, f.BlockCols),
                ["quantized_weights"] = f.Weights,
                ["fp8_bytes"] = f.Fp8Bytes,
                ["scale_dtypes"] = new JsonArray(f.ScaleDTypes.Select(d => (JsonNode?)d.TorchName()).ToArray()),
                ["scale_bytes"] = f.ScaleBytes,
                ["dequantized_dtype"] = f.DequantizedDType.TorchName(),
                ["dequantized_bytes"] = f.DequantizedBytes,
            },
        };
    }
}
