using System.Text.Json.Nodes;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>
/// The JSON objects and summaries of import, export and verify: every field name, in order, and values checked against
/// the fixture itself (tensor names and bytes read from its safetensors) or against another command.
/// </summary>
public class ConversionOutputTests
{
    private const string Fixture = "qwen35-text-dense-tied-tiny";

    private static readonly string[] ImportFields =
        { "megatron_path", "iteration_folder", "architecture", "bridge", "format", "parallel", "tensors", "bytes",
          "mtp_num_layers", "mtp_layer_name", "mtp_left_out", "sequential_experts", "seconds", "vocab_rows", "stored_tensors", "stored_copies" };
    private static readonly string[] ExportFields =
        { "hf_path", "source", "architecture", "bridge", "format", "language_only", "tensors", "bytes", "lossy_tensors", "skipped_keys", "mtp_left_out", "seconds", "dtype" };
    private static readonly string[] VerifyFields =
        { "hf_model", "megatron_folder", "architecture", "bridge", "match", "tensors_checked", "differences", "stored_copies", "unmapped_keys", "bytes", "tensors", "states_checked", "not_checked", "stored_tensors", "mtp_left_out" };

    [Fact]
    public void ImportExportVerify_Json()
    {
        string hf = TestPaths.Fixture(Fixture);
        using var tmp = TestPaths.NewTempDir();
        string megatron = tmp.Sub("mg");
        string exported = tmp.Sub("hf");
        var (hfTensors, hfBytes, gdnNorms) = ReadFixture(hf);
        string architecture = JsonNode.Parse(File.ReadAllText(Path.Combine(hf, "config.json")))!["architectures"]![0]!.GetValue<string>();

        var import = RunJson("import", "--hf-model", hf, "--megatron-path", megatron, "--json");
        Assert.Equal(ImportFields, import.Select(p => p.Key));
        string iteration = Path.Combine(megatron, "iter_0000000");
        JsonAssert.Field(import, "megatron_path", megatron);
        JsonAssert.Field(import, "iteration_folder", iteration);
        JsonAssert.Field(import, "architecture", architecture);
        JsonAssert.Field(import, "bridge", "Qwen35Bridge");
        JsonAssert.Field(import, "format", "torch_dist");
        var parallel = import["parallel"]!.AsObject();
        Assert.Equal(new[] { "tp", "pp", "vpp", "ep", "etp" }, parallel.Select(p => p.Key));
        Assert.All(parallel, p => Assert.Equal(1, p.Value!.GetValue<int>()));
        JsonAssert.Field(import, "bytes", hfBytes);
        // This fixture has no MTP and no routed experts.
        Assert.Null(import["mtp_num_layers"]);
        Assert.Null(import["mtp_layer_name"]);
        Assert.Null(import["mtp_left_out"]);
        JsonAssert.Field(import, "sequential_experts", false);
        Assert.True(import["seconds"]!.GetValue<double>() >= 0);

        var verify = RunJson("verify", "--hf-model", hf, "--megatron-path", megatron, "--json");
        Assert.Equal(VerifyFields, verify.Select(p => p.Key));
        JsonAssert.Field(verify, "hf_model", hf);
        JsonAssert.Field(verify, "megatron_folder", iteration);
        JsonAssert.Field(verify, "architecture", architecture);
        JsonAssert.Field(verify, "bridge", "Qwen35Bridge");
        JsonAssert.Field(verify, "match", true);
        // verify recomputes the mapping independently of import: both count the same Megatron parameters.
        JsonAssert.Field(verify, "tensors_checked", import["tensors"]!.GetValue<int>());
        Assert.Equal(import["tensors"]!.GetValue<int>(), verify["tensors"]!.AsArray().Count);
        Assert.Empty(verify["differences"]!.AsArray());
        Assert.Empty(verify["unmapped_keys"]!.AsArray());
        JsonAssert.Field(verify, "bytes", hfBytes);
        Assert.Null(verify["mtp_left_out"]);

        var export = RunJson("export", "--hf-model", hf, "--megatron-path", megatron, "--hf-path", exported, "--json");
        Assert.Equal(ExportFields, export.Select(p => p.Key));
        JsonAssert.Field(export, "hf_path", exported);
        JsonAssert.Field(export, "source", iteration);
        JsonAssert.Field(export, "architecture", architecture);
        JsonAssert.Field(export, "bridge", "Qwen35Bridge");
        JsonAssert.Field(export, "format", "torch_dist");
        JsonAssert.Field(export, "language_only", false);
        JsonAssert.Field(export, "tensors", hfTensors);
        JsonAssert.Field(export, "bytes", hfBytes);
        // The GDN output norms pass through bf16(w - 1) in Megatron, so they are the ones reported as not bit-exact.
        Assert.Equal(gdnNorms, export["lossy_tensors"]!.AsArray().Select(n => n!.GetValue<string>()).Order());
        Assert.Empty(export["skipped_keys"]!.AsArray());
        Assert.Null(export["mtp_left_out"]);
        Assert.True(export["seconds"]!.GetValue<double>() >= 0);
    }

    [Fact]
    public void ImportExportVerify_Summaries()
    {
        string hf = TestPaths.Fixture(Fixture);
        using var tmp = TestPaths.NewTempDir();
        string megatron = tmp.Sub("mg");
        var (hfTensors, _, gdnNorms) = ReadFixture(hf);

        var import = CliRunner.Run("import", "--hf-model", hf, "--megatron-path", megatron);
        Assert.True(import.ExitCode == 0, import.Error);
        AssertRows(import.Output, "Import", "architecture", "bridge", "format", "tensors", "bytes", "time", "checkpoint");
        Assert.Contains("torch_dist", import.Output);
        Assert.Contains($"Megatron checkpoint written to {megatron} (load it with --load {megatron} --finetune", import.Output);

        var verify = CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", megatron);
        Assert.True(verify.ExitCode == 0, verify.Error);
        AssertRows(verify.Output, "Verify", "architecture", "bridge", "tensors", "bytes", "differences", "unmapped keys", "checkpoint");
        Assert.Matches($@"OK: all \d+ tensors match {System.Text.RegularExpressions.Regex.Escape(hf)}", verify.Output);

        var export = CliRunner.Run("export", "--hf-model", hf, "--megatron-path", megatron, "--hf-path", tmp.Sub("hf"));
        Assert.True(export.ExitCode == 0, export.Error);
        AssertRows(export.Output, "Export", "architecture", "bridge", "source", "tensors", "bytes", "time", "not bit-exact", "skipped keys", "written to");
        Assert.Contains("(torch_dist)", export.Output);
        Assert.Contains($"{gdnNorms.Count} GDN output norm(s): bf16(bf16(w - 1) + 1)", export.Output);
        Assert.Contains($" {hfTensors} ", export.Output);
    }

    private static JsonObject RunJson(params string[] args)
    {
        var (code, output, error) = CliRunner.Run(args);
        Assert.True(code == 0, $"{args[0]} exited {code}: {error}");
        return Assert.IsType<JsonObject>(JsonNode.Parse(output));
    }

    /// <summary>Each row label appears, in this order, after the table title.</summary>
    private static void AssertRows(string output, string title, params string[] labels)
    {
        int at = output.IndexOf(title, StringComparison.Ordinal);
        Assert.True(at >= 0, $"no '{title}' table in:\n{output}");
        foreach (var label in labels)
        {
            int next = output.IndexOf($" {label} ", at, StringComparison.Ordinal);
            Assert.True(next > at, $"row '{label}' missing or out of order in:\n{output}");
            at = next;
        }
    }

    private static (int Tensors, int Bytes, List<string> GdnNorms) ReadFixture(string folder)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        var names = checkpoint.Tensors.Select(t => t.Name).ToList();
        return (names.Count, checkpoint.Tensors.Sum(t => (int)t.ByteLength), names.Where(n => n.EndsWith(".linear_attn.norm.weight", StringComparison.Ordinal)).Order().ToList());
    }
}
