using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MegatronBridge.Models;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;
using Spectre.Console;

namespace MegatronBridge.Cli.Commands;

/// <summary><c>megatron-bridge inspect &lt;hf-dir&gt; [--json]</c>: which bridge, which provider, which layout, how big.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var folder = new Argument<DirectoryInfo>("hf-dir") { Description = "Hugging Face checkpoint folder (config.json + safetensors)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of tables." };
        var command = new Command("inspect", "Show the detected bridge, the Megatron provider, the layer layout and the parameter counts of an HF checkpoint.");
        command.Arguments.Add(folder);
        command.Options.Add(json);
        var megatronPath = MegatronInspectCommand.Attach(command, folder);
        var hfModel = MegatronInspectCommand.AttachHfModel(command, megatronPath);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            bool asJson = parse.GetValue(json);
            return CommandErrors.Run("inspect", parse.InvocationConfiguration.Error, () =>
            {
                if (parse.GetValue(megatronPath) is { } path) return MegatronInspectCommand.Run(path, asJson, output, parse.GetValue(hfModel));
                var inspection = ModelInspection.Inspect(parse.GetValue(folder)!.FullName);
                if (asJson)
                    JsonOutput.Write(output, ModelInspectionJson.ToJson(inspection));
                else
                    WriteTables(inspection, output);
                return 0;
            }, json: asJson);
        });
        return command;
    }

    private static void WriteTables(ModelInspection inspection, TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
        var p = inspection.Provider;

        var summary = new Table().Title("Model").AddColumn("").AddColumn("");
        summary.HideHeaders();
        Row(summary, "folder", inspection.Folder);
        Row(summary, "architecture", inspection.Architecture);
        Row(summary, "bridge", inspection.BridgeName);
        Row(summary, "provider", p.ProviderName);
        Row(summary, "export model_type", inspection.ModelType);
        Row(summary, "layers", $"{p.NumLayers}: {p.LayerLayout}  (G = Gated DeltaNet, A = attention)");
        Row(summary, "MoE", p.IsMoe ? $"{p.NumExperts} experts, top-{p.MoeRouterTopk}, every layer" : "no");
        Row(summary, "MTP", p.MtpLayers == 0 ? "none" : $"{p.MtpLayers} layer(s)" + (inspection.HasWeights ? $", tensors {(inspection.HasMtpTensors ? "present" : "ABSENT (import converts without MTP)")}" : ""));
        Row(summary, "vision", p.Vision is null ? "none" : $"depth {p.Vision.NumLayers}, hidden {p.Vision.HiddenSize}, deepstack [{string.Join(", ", p.Vision.DeepstackVisualIndexes)}]");
        if (!inspection.HasWeights) Row(summary, "weights", "none (config.json only): no parameter counts");
        console.Write(summary);

        if (!inspection.HasWeights)
        {
            console.Write(FieldTable($"Provider ({p.ProviderName})", ProviderJson.ToJson(p)));
            if (p.Vision is not null) console.Write(FieldTable("Vision transformer config", ProviderJson.ToJson(p.Vision)));
            return;
        }
        var counts = inspection.Parameters;
        var parameters = new Table().Title("Parameters").AddColumn("part").AddColumn(new TableColumn("count").RightAligned());
        Row(parameters, "total (checkpoint tensors)", Count(counts.Total));
        Row(parameters, "language model", Count(counts.LanguageModel));
        Row(parameters, "vision", Count(counts.Vision));
        Row(parameters, "MTP", Count(counts.Mtp));
        Row(parameters, "routed experts (decoder)", Count(counts.RoutedExperts));
        Row(parameters, "active per token (LM, no vision/MTP)", Count(counts.ActivePerToken));
        console.Write(parameters);

        var inventory = new Table().Title($"Tensors ({inspection.TensorCount})").AddColumn("dtype").AddColumn(new TableColumn("count").RightAligned())
            .AddColumn(new TableColumn("parameters").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned());
        foreach (var entry in inspection.Inventory)
            inventory.AddRow(entry.DType.TorchName(), entry.Count.ToString(CultureInfo.InvariantCulture), Count(entry.Parameters), Count(entry.Bytes));
        console.Write(inventory);

        if (inspection.Fp8 is { } fp8)
        {
            var quantized = new Table().Title("FP8 (blockwise e4m3)").AddColumn("").AddColumn("");
            quantized.HideHeaders();
            Row(quantized, "quantized weights", $"{fp8.Weights} x float8_e4m3fn, {Count(fp8.Fp8Bytes)} bytes");
            Row(quantized, "scales", $"one per {fp8.BlockRows}x{fp8.BlockCols} block, {string.Join("/", fp8.ScaleDTypes.Select(d => d.TorchName()))}, {Count(fp8.ScaleBytes)} bytes");
            Row(quantized, "dequantised", $"{fp8.DequantizedDType.TorchName()} = float32(e4m3) x float32(scale), {Count(fp8.DequantizedBytes)} bytes (what import, verify and compare read)");
            console.Write(quantized);
        }

        console.Write(FieldTable($"Provider ({p.ProviderName})", ProviderJson.ToJson(p)));
        if (p.Vision is not null) console.Write(FieldTable("Vision transformer config", ProviderJson.ToJson(p.Vision)));
    }

    private static Table FieldTable(string title, JsonObject fields)
    {
        var table = new Table().Title(title).AddColumn("field").AddColumn("value");
        foreach (var (name, value) in fields) Row(table, name, value?.ToJsonString() ?? "null");
        return table;
    }

    private static void Row(Table table, string name, string value) => table.AddRow(Markup.Escape(name), Markup.Escape(value));

    private static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
