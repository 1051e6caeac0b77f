using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Yaml;
using MegatronBridge.Jobs;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace MegatronBridge.Tests.Jobs;

/// <summary>
/// run_config.yaml beside the weights, read back with an independent YAML parser (YamlDotNet) and checked field by field
/// against the provider <c>inspect --json</c> prints. Scalars are resolved as PyYAML's safe_load (YAML 1.1) would.
/// </summary>
public class RunConfigTests
{
    // PyYAML's implicit resolvers (yaml/resolver.py), re-stated here: a plain scalar is an int, a float, a bool or null
    // only if it matches these; anything else loads as a string.
    private static readonly Regex PyYamlFloat = new(@"^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?$|^\.(?:inf|nan)$|^-\.inf$");
    private static readonly Regex PyYamlInt = new(@"^[-+]?(?:0|[1-9][0-9_]*)$");

    private static YamlMappingNode Load(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    private static YamlNode Child(YamlMappingNode map, string key) => map.Children[new YamlScalarNode(key)];

    /// <summary>The value PyYAML would load, as a JSON node, for comparison with inspect's JSON.</summary>
    private static JsonNode? AsPython(YamlNode node)
    {
        switch (node)
        {
            case YamlSequenceNode seq:
                return new JsonArray(seq.Children.Select(AsPython).ToArray());
            case YamlMappingNode map:
                var obj = new JsonObject();
                foreach (var (k, v) in map.Children) obj[((YamlScalarNode)k).Value!] = AsPython(v);
                return obj;
            case YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.DoubleQuoted or YamlDotNet.Core.ScalarStyle.SingleQuoted } quoted:
                return JsonValue.Create(quoted.Value);
            case YamlScalarNode plain:
                var text = plain.Value!;
                if (text is "null" or "~") return null;
                if (text is "true") return JsonValue.Create(true);
                if (text is "false") return JsonValue.Create(false);
                if (PyYamlInt.IsMatch(text)) return JsonValue.Create(long.Parse(text, CultureInfo.InvariantCulture));
                if (PyYamlFloat.IsMatch(text)) return JsonValue.Create(double.Parse(text, CultureInfo.InvariantCulture));
                return JsonValue.Create(text);
            default:
                throw new InvalidOperationException(node.ToString());
        }
    }

    private static void AssertSameValue(string field, JsonNode? expected, JsonNode? actual)
    {
        if (expected is JsonValue e && e.GetValueKind() == System.Text.Json.JsonValueKind.Number)
            Assert.True(actual is JsonValue a && a.GetValueKind() == System.Text.Json.JsonValueKind.Number
                        && Number(a) == Number(e), $"{field}: expected {expected.ToJsonString()}, got {actual?.ToJsonString()}");
        else if (expected is JsonArray ea)
        {
            var aa = Assert.IsType<JsonArray>(actual);
            Assert.Equal(ea.Count, aa.Count);
            for (int i = 0; i < ea.Count; i++) AssertSameValue($"{field}[{i}]", ea[i], aa[i]);
        }
        else
            Assert.True(JsonNode.DeepEquals(expected, actual), $"{field}: expected {expected?.ToJsonString()}, got {actual?.ToJsonString()}");
    }

    private static double Number(JsonValue v) => double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture);

    public static IEnumerable<object[]> Cases() => new[]
    {
        new object[] { "qwen35-vl-moe-tiny", "torch_dist", "megatron.bridge.models.qwen_vl.qwen35_vl_provider.Qwen35VLMoEModelProvider", "transformers.models.qwen3_5_moe.configuration_qwen3_5_moe.Qwen3_5MoeVisionConfig.from_dict" },
        new object[] { "qwen35-vl-dense-tiny", "torch", "megatron.bridge.models.qwen_vl.qwen35_vl_provider.Qwen35VLModelProvider", "transformers.models.qwen3_5.configuration_qwen3_5.Qwen3_5VisionConfig.from_dict" },
        new object[] { "qwen3-vl-dense-tiny", "torch_dist", "megatron.bridge.models.qwen_vl.qwen3_vl_provider.Qwen3VLModelProvider", "transformers.models.qwen3_vl.configuration_qwen3_vl.Qwen3VLVisionConfig.from_dict" },
        new object[] { "qwen35-text-dense-tied-tiny", "torch", "megatron.bridge.models.gpt_provider.GPTModelProvider", null! },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ModelSectionIsTheProviderFieldByField(string fixture, string format, string target, string? visionTarget)
    {
        using var tmp = TestPaths.NewTempDir();
        var hf = TestPaths.Fixture(fixture);
        var (code, inspect, error) = CliRunner.Run("inspect", hf, "--json");
        Assert.True(code == 0, error);
        var provider = JsonNode.Parse(inspect)!["provider"]!.AsObject();

        var megatron = tmp.Sub("mg");
        var tp = format == "torch" ? "2" : "1";
        (code, _, error) = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron, "--format", format, "--tp", tp);
        Assert.True(code == 0, error);
        var path = Path.Combine(megatron, "iter_0000000", "run_config.yaml");
        var root = Load(path);
        var model = (YamlMappingNode)Child(root, "model");
        var loaded = AsPython(model)!.AsObject();

        Assert.Equal(target, (string?)loaded["_target_"]);
        foreach (var (field, expected) in provider)
        {
            switch (field)
            {
                case "audio_token_id":
                    Assert.False(loaded.ContainsKey(field)); // a plain attribute in Python, not a constructor argument
                    break;
                case "tensor_model_parallel_size":
                    AssertSameValue(field, JsonValue.Create(int.Parse(tp, CultureInfo.InvariantCulture)), loaded[field]);
                    break;
                case "params_dtype" or "autocast_dtype":
                    if (expected is null) Assert.Null(loaded[field]);
                    else AssertPythonObject(loaded[field], "torch." + (string)expected!, call: false);
                    break;
                case "activation_func":
                    Assert.Equal("silu", (string?)expected);
                    AssertPythonObject(loaded[field], "torch.nn.functional.silu", call: false);
                    break;
                case "transformer_layer_spec":
                    AssertPythonObject(loaded[field], (string)expected! == "default_layer_spec"
                        ? "megatron.bridge.models.gpt_provider.default_layer_spec"
                        : "megatron.core.models.gpt.experimental_attention_variant_module_specs.get_transformer_block_with_experimental_attention_variant_spec", call: false);
                    break;
                default:
                    Assert.True(loaded.ContainsKey(field), $"{field} missing from {path}");
                    AssertSameValue(field, expected, loaded[field]);
                    break;
            }
        }

        var vision = loaded["vision_config"];
        if (visionTarget is null) Assert.Null(vision);
        else
        {
            Assert.Equal(visionTarget, (string?)vision!["_target_"]);
            Assert.True((bool)vision["_call_"]!);
            var hfVision = JsonNode.Parse(File.ReadAllText(Path.Combine(hf, "config.json")))!["vision_config"]!.AsObject();
            foreach (var (field, expected) in hfVision) AssertSameValue("vision_config." + field, expected, vision["config_dict"]![field]);
            Assert.Equal((string?)provider["params_dtype"], (string?)vision["config_dict"]!["dtype"]);
        }

        var checkpoint = AsPython(Child(root, "checkpoint"))!.AsObject();
        Assert.False((bool)checkpoint["save_optim"]!);
        Assert.False((bool)checkpoint["save_rng"]!);
        Assert.False((bool)checkpoint["fully_parallel_save"]!);
        Assert.Equal(format, (string?)checkpoint["ckpt_format"]);
    }

    private static void AssertPythonObject(JsonNode? node, string target, bool call)
    {
        var obj = Assert.IsType<JsonObject>(node);
        Assert.Equal(target, (string?)obj["_target_"]);
        Assert.Equal(call, (bool)obj["_call_"]!);
    }

    [Theory]
    [InlineData(1e-6, "1.0e-06")]
    [InlineData(0.02, "0.02")]
    [InlineData(10000000.0, "10000000.0")]
    [InlineData(1e20, "1.0e+20")]
    [InlineData(-2.5, "-2.5")]
    public void FloatsAreWhatPyYamlResolvesAsFloats(double value, string expected)
    {
        var text = YamlEmitter.Float(value);
        Assert.Equal(expected, text);
        Assert.Matches(PyYamlFloat, text);
        Assert.Equal(value, double.Parse(text, CultureInfo.InvariantCulture));
    }

    [Fact]
    public void StringsThatLookLikeOtherTypesStayStrings()
    {
        var yaml = YamlEmitter.Write(new JsonObject
        {
            ["a"] = "true", ["b"] = "1.5", ["c"] = "null", ["d"] = "x: y # z", ["e"] = "line\nbreak \"q\" \\", ["yes"] = 1,
            ["list"] = new JsonArray(1, "two", null), ["empty"] = new JsonObject(), ["nested"] = new JsonArray(new JsonObject { ["k"] = 1 }),
        });
        using var tmp = TestPaths.NewTempDir();
        var path = tmp.Sub("t.yaml");
        File.WriteAllText(path, yaml);
        var loaded = AsPython(Load(path))!.AsObject();
        Assert.Equal("true", (string?)loaded["a"]);
        Assert.Equal("1.5", (string?)loaded["b"]);
        Assert.Equal("null", (string?)loaded["c"]);
        Assert.Equal("x: y # z", (string?)loaded["d"]);
        Assert.Equal("line\nbreak \"q\" \\", (string?)loaded["e"]);
        Assert.Equal(1L, (long)loaded["yes"]!);
        Assert.Equal("[1,\"two\",null]", loaded["list"]!.ToJsonString());
        Assert.Empty(loaded["empty"]!.AsObject());
        Assert.Equal(1L, (long)loaded["nested"]![0]!["k"]!);
    }
}

public class RunConfigFloatFieldTests
{
    [Fact]
    public void WholeFloatFieldsStayFloats()
    {
        using var tmp = TestPaths.NewTempDir();
        var megatron = tmp.Sub("mg");
        var (code, _, error) = CliRunner.Run("import", "--hf-model", TestPaths.Fixture("qwen35-vl-dense-tiny"), "--megatron-path", megatron);
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(Path.Combine(megatron, "iter_0000000", RunConfigFile.FileName));
        // attention_dropout and hidden_dropout are 0.0 in the fixture; Python declares them float.
        Assert.Contains("  attention_dropout: 0.0", lines);
        Assert.Contains("  hidden_dropout: 0.0", lines);
        Assert.Contains("  rotary_base: 10000000.0", lines);
        Assert.Contains("  num_layers: 8", lines);
    }
}
