using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Yaml;
using MegatronBridge.Providers;

namespace MegatronBridge.Jobs;

/// <summary>
/// The <c>run_config.yaml</c> Megatron-Bridge keeps in every checkpoint's iteration folder: its
/// <c>load_model_config</c> (behind <c>load_megatron_model</c> / <c>AutoBridge</c> loading a Megatron checkpoint)
/// instantiates the <c>model</c> section (the provider class named by <c>_target_</c>, with the provider's fields as
/// keyword arguments), and the resume check of its training loop reads <c>model.tensor_model_parallel_size</c> /
/// <c>pipeline_model_parallel_size</c> and <c>checkpoint.save_optim</c> / <c>save_rng</c> / <c>fully_parallel_save</c>
/// (Megatron-Bridge training/checkpointing.py, load path). Python objects are written the way its YAML representers
/// write them: torch dtypes and functions as <c>{_target_: name, _call_: false}</c>, HF configs as
/// <c>{_target_: Class.from_dict, _call_: true, config_dict: {...}}</c>.
/// </summary>
internal static class RunConfigFile
{
    public const string FileName = "run_config.yaml";

    /// <summary>Provider fields that are plain attributes in Python, not constructor arguments.</summary>
    private static readonly string[] NotDataclassFields = { "audio_token_id" };

    public static JsonObject Build(GptModelProvider provider, ParallelLayout layout, JsonObject? hfVisionConfig, MegatronFormat format)
    {
        var fields = ProviderJson.ToJson(provider with
        {
            TensorModelParallelSize = layout.Tp,
            PipelineModelParallelSize = layout.Pp,
            ExpertModelParallelSize = layout.Ep,
        });
        var model = new JsonObject { ["_target_"] = ProviderPythonNames.ProviderClass(provider) };
        var floats = FloatFields(provider);
        foreach (var (name, value) in fields)
        {
            if (NotDataclassFields.Contains(name)) continue;
            model[name] = name switch
            {
                "params_dtype" or "autocast_dtype" => value is null ? null : PythonObject("torch." + (string)value!, call: false),
                "activation_func" => ProviderPythonNames.Activation((string)value!) is { } fn ? PythonObject(fn, call: false) : null,
                "transformer_layer_spec" => ProviderPythonNames.LayerSpecFunction((string)value!) is { } spec ? PythonObject(spec, call: false) : null,
                _ when value is not null && floats.Contains(name) => JsonValue.Create(double.Parse(value.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture)),
                _ => value?.DeepClone(),
            };
            // An unknown function is left to the class default rather than written as a string Python cannot call.
            if (model[name] is null && name is "activation_func" or "transformer_layer_spec") model.Remove(name);
        }
        if (layout.Vpp > 1) model["virtual_pipeline_model_parallel_size"] = layout.Vpp;
        if (layout.Etp > 0) model["expert_tensor_parallel_size"] = layout.Etp;
        if (hfVisionConfig is not null && ProviderPythonNames.VisionConfigClass(provider) is { } visionClass)
        {
            var dict = (JsonObject)hfVisionConfig.DeepClone();
            // The bridges hand the vision encoder the language model's params_dtype.
            dict["dtype"] = provider.ParamsDtype;
            model["vision_config"] = new JsonObject { ["_target_"] = visionClass + ".from_dict", ["_call_"] = true, ["config_dict"] = dict };
        }
        return new JsonObject
        {
            ["model"] = model,
            ["checkpoint"] = new JsonObject
            {
                // Weights only: a resume must not look for optimizer or rng state.
                ["save_optim"] = false,
                ["save_rng"] = false,
                ["fully_parallel_save"] = false,
                ["ckpt_format"] = format == MegatronFormat.TorchDist ? "torch_dist" : "torch",
            },
        };
    }

    /// <summary>Writes run_config.yaml into <paramref name="iterationFolder"/>.</summary>
    public static void Write(string iterationFolder, GptModelProvider provider, ParallelLayout layout, JsonObject? hfVisionConfig, MegatronFormat format) =>
        File.WriteAllText(Path.Combine(iterationFolder, FileName), YamlEmitter.Write(Build(provider, layout, hfVisionConfig, format)));

    /// <summary>Fields declared float in Python (double here): written as floats even when whole, e.g. 0.0.</summary>
    private static HashSet<string> FloatFields(GptModelProvider provider) =>
        provider.GetType().GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Where(p => p.PropertyType == typeof(double) || p.PropertyType == typeof(double?))
            .Select(p => System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Text.Json.Serialization.JsonPropertyNameAttribute>(p)?.Name
                ?? System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name))
            .ToHashSet(StringComparer.Ordinal);

    private static JsonObject PythonObject(string target, bool call) => new() { ["_target_"] = target, ["_call_"] = call };
}
