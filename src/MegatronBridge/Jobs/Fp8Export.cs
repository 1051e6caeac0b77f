using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// Which exported tensors <c>export --quantize fp8</c> writes as E4M3 with a <c>_scale_inv</c> tensor beside them, the
/// block size, the scale dtype and the <c>quantization_config</c> of the exported config.json. With an FP8
/// <c>--hf-model</c> its own choices are kept (the same tensors, block size and scale dtype); with a bf16 one, the set
/// the bridge's FP8 releases quantize (<see cref="BridgeRegistration.Fp8QuantizedByDefault"/>), 128 x 128 blocks and
/// bf16 scales.
/// </summary>
internal sealed class Fp8Export
{
    private readonly HashSet<string> _quantized;

    private Fp8Export(HashSet<string> quantized, int blockRows, int blockCols, DType scaleDType, JsonObject config)
    {
        _quantized = quantized;
        BlockRows = blockRows;
        BlockCols = blockCols;
        ScaleDType = scaleDType;
        QuantizationConfig = config;
    }

    public int BlockRows { get; }
    public int BlockCols { get; }
    public DType ScaleDType { get; }
    public JsonObject QuantizationConfig { get; }

    public bool Quantizes(TensorMeta output) => _quantized.Contains(output.Name);

    public static string ScaleName(string weight) => weight + BlockScaledFp8Source.ScaleSuffix;

    /// <summary>The tensors written for one recipe: the E4M3 weight and its scales, or the output as it is.</summary>
    public IEnumerable<TensorMeta> Outputs(TensorMeta output)
    {
        if (!Quantizes(output))
        {
            yield return output;
            yield break;
        }
        yield return output with { DType = DType.F8E4M3 };
        yield return new TensorMeta(ScaleName(output.Name), ScaleDType, Fp8BlockQuantizer.ScaleShape(output.Shape, BlockRows, BlockCols));
    }

    /// <param name="outputs">The exported tensors (names and shapes of the bf16 export).</param>
    /// <param name="original">The --hf-model weights as stored, when it has any: an FP8 release's choices are kept.</param>
    /// <param name="quantizedByDefault">The tensors the model family's FP8 releases quantize, for a bf16 --hf-model.</param>
    public static Fp8Export Create(IReadOnlyList<TensorMeta> outputs, BlockScaledFp8Source? original, Fp8QuantizationConfig? originalConfig,
        Func<TensorMeta, bool> quantizedByDefault)
    {
        if (original != null && originalConfig != null)
        {
            var same = outputs.Where(o => original.StoredAs(o.Name) != null).Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            if (same.Count > 0)
            {
                var scaleDType = original.StoredAs(same.First())!.Value.Scale.DType;
                return new Fp8Export(same, originalConfig.BlockRows, originalConfig.BlockCols, scaleDType, (JsonObject)originalConfig.Json.DeepClone());
            }
        }
        var quantized = outputs.Where(quantizedByDefault).Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        // Qwen's configs name the modules kept in bf16; listing every one that holds a weight says the same.
        var kept = outputs.Where(o => !quantized.Contains(o.Name) && o.Name.EndsWith(".weight", StringComparison.Ordinal))
            .Select(o => o.Name[..^".weight".Length]).Distinct().ToList();
        int block = Fp8QuantizationConfig.DefaultBlock;
        return new Fp8Export(quantized, block, block, DType.BF16, Fp8QuantizationConfig.Create(block, block, kept));
    }

    /// <summary>
    /// Sets the exported config.json's <c>quantization_config</c>: this plan's, or none when <paramref name="plan"/> is
    /// null (the weights were written dequantised). The file is rewritten only when that changes it.
    /// </summary>
    public static void WriteConfig(string configPath, Fp8Export? plan)
    {
        if (!File.Exists(configPath)) return;
        var json = ConfigJson.Parse(configPath) as JsonObject;
        if (json == null) return;
        bool changed = json.Remove(Fp8QuantizationConfig.Key);
        if (json["text_config"] is JsonObject text) changed |= text.Remove(Fp8QuantizationConfig.Key);
        if (plan != null)
        {
            json[Fp8QuantizationConfig.Key] = plan.QuantizationConfig.DeepClone();
            changed = true;
        }
        if (changed) File.WriteAllText(configPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
