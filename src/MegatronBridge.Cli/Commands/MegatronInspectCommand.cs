using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using MegatronBridge.Jobs;
using Spectre.Console;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// <c>megatron-bridge inspect --megatron-path DIR [--json]</c>: iteration, format, megatron-core variant, tensor count and
/// bytes, the parallel layout the checkpoint was saved with, and which keys are model weights vs other state.
/// </summary>
internal static class MegatronInspectCommand
{
    /// <summary>Adds --megatron-path to inspect and makes the HF folder argument optional (one of the two is required).</summary>
    public static Option<DirectoryInfo?> Attach(Command inspect, Argument<DirectoryInfo> hfFolder)
    {
        var megatronPath = new Option<DirectoryInfo?>("--megatron-path")
        {
            Description = "Inspect a Megatron checkpoint instead (the folder with latest_checkpointed_iteration.txt, or an iter_XXXXXXX / release folder).",
        };
        hfFolder.Arity = ArgumentArity.ZeroOrOne;
        inspect.Options.Add(megatronPath);
        inspect.Validators.Add(result =>
        {
            bool hasPath = result.GetValue(megatronPath) is not null;
            bool hasFolder = result.GetResult(hfFolder) is { Tokens.Count: > 0 };
            if (hasPath == hasFolder) result.AddError("inspect: give either an HF folder or --megatron-path DIR");
        });
        return megatronPath;
    }

    /// <summary>Adds --hf-model: the model's HF folder, whose config.json checks a legacy checkpoint for missing TP rank folders.</summary>
    public static Option<DirectoryInfo?> AttachHfModel(Command inspect, Option<DirectoryInfo?> megatronPath)
    {
        var hfModel = new Option<DirectoryInfo?>("--hf-model")
        {
            Description = "With --megatron-path: the model's HF folder; its config.json gives the HF vocab_size (so the padding rows) and checks that no tensor-parallel rank folder of a legacy checkpoint is missing.",
        };
        inspect.Options.Add(hfModel);
        inspect.Validators.Add(result =>
        {
            if (result.GetValue(hfModel) is not null && result.GetValue(megatronPath) is null)
                result.AddError("inspect: --hf-model goes with --megatron-path (to inspect an HF folder, give it as the argument)");
        });
        return hfModel;
    }

    /// <summary>Prints the inspection of the checkpoint at <paramref name="path"/>; failures are left to <see cref="CommandErrors"/>.</summary>
    public static int Run(DirectoryInfo path, bool asJson, TextWriter output, DirectoryInfo? hfModel = null)
    {
        var info = MegatronCheckpointInspection.Inspect(path.FullName, hfModel?.FullName);
        if (asJson) JsonOutput.Write(output, ToJson(info));
        else WriteTables(info, output);
        return 0;
    }

    public static JsonObject ToJson(MegatronCheckpointInfo info) => new()
    {
        ["folder"] = info.Folder,
        ["iteration"] = info.Iteration,
        ["release"] = info.IsRelease,
        ["format"] = ConversionReport.FormatName(info.Format),
        ["variant"] = info.Variant,
        ["checkpoint_version"] = info.CheckpointVersion,
        ["tensors"] = info.Tensors,
        ["bytes"] = info.Bytes,
        ["objects"] = info.Objects,
        ["parallel"] = new JsonObject
        {
            ["tp"] = info.Layout.Tp, ["pp"] = info.Layout.Pp, ["vpp"] = info.Layout.Vpp, ["ep"] = info.Layout.Ep, ["files"] = info.Layout.Files,
        },
        ["keys"] = new JsonObject(info.Groups.Select(g => KeyValuePair.Create(KindName(g.Kind),
            (JsonNode?)new JsonObject { ["count"] = g.Count, ["bytes"] = g.Bytes }))),
        ["other_state_keys"] = new JsonArray(info.OtherKeys.Select(k => (JsonNode)k).ToArray()),
        ["mtp_layer_name"] = info.MtpLayerNames.Count == 0 ? null : string.Join(" + ", info.MtpLayerNames),
        ["expert_modules"] = new JsonArray(info.ExpertModules.Select(k => (JsonNode)k).ToArray()),
        ["warnings"] = new JsonArray(info.Warnings.Select(k => (JsonNode)k).ToArray()),
        ["stored_tensors"] = info.Tensors,
        ["stored_copies"] = info.StoredCopies,
        ["embedding_rows"] = info.EmbeddingRows,
        ["hf_vocab_size"] = info.HfVocabRows,
        ["vocab_padding_rows"] = info.PaddingRows,
    };

    private static void WriteTables(MegatronCheckpointInfo info, TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
        var summary = new Table().Title("Megatron checkpoint").AddColumn("").AddColumn("");
        summary.HideHeaders();
        Row(summary, "folder", info.Folder);
        Row(summary, "iteration", info.IsRelease ? "release" : info.Iteration?.ToString(CultureInfo.InvariantCulture) ?? "unknown");
        Row(summary, "format", ConversionReport.FormatName(info.Format));
        Row(summary, "variant", info.Variant);
        Row(summary, "checkpoint_version", info.CheckpointVersion?.ToString(CultureInfo.InvariantCulture) ?? "none");
        Row(summary, "tensors", $"{info.Tensors} ({ConversionReport.Bytes(info.Bytes)})");
        Row(summary, "stored tensors", info.Tensors.ToString(CultureInfo.InvariantCulture));
        Row(summary, "stored copies", $"{info.StoredCopies} (stored tensors, extra states, common state)");
        Row(summary, "saved layout", info.Layout.ToString());
        Row(summary, "MTP inner layer", info.MtpLayerNames.Count == 0 ? "none (no MTP tensors)" : string.Join(" + ", info.MtpLayerNames));
        if (info.EmbeddingRows is { } rows) Row(summary, "vocabulary rows", VocabularyRows(rows, info.HfVocabRows));
        if (info.ExpertModules.Count > 0) Row(summary, "experts", string.Join(", ", info.ExpertModules));
        foreach (var warning in info.Warnings) Row(summary, "WARNING", warning);
        console.Write(summary);

        var keys = new Table().Title("Keys").AddColumn("kind").AddColumn(new TableColumn("count").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned());
        foreach (var g in info.Groups) keys.AddRow(Markup.Escape(KindName(g.Kind)), g.Count.ToString(CultureInfo.InvariantCulture), ConversionReport.Bytes(g.Bytes));
        console.Write(keys);
    }

    /// <summary>"248832 stored (HF vocab_size 248320 + 512 padding rows)", or the stored rows alone without an HF config.</summary>
    private static string VocabularyRows(int stored, int? hfVocab)
    {
        string rows = stored.ToString(CultureInfo.InvariantCulture);
        if (hfVocab is not { } hf) return $"{rows} stored (give --hf-model for the padding)";
        string vocab = hf.ToString(CultureInfo.InvariantCulture);
        return stored == hf ? $"{rows} stored (= HF vocab_size, not padded)"
            : stored > hf ? $"{rows} stored (HF vocab_size {vocab} + {(stored - hf).ToString(CultureInfo.InvariantCulture)} padding rows)"
            : $"{rows} stored (fewer than HF vocab_size {vocab})";
    }

    private static string KindName(CheckpointKeyKind kind) => kind switch
    {
        CheckpointKeyKind.ModelWeight => "model_weights",
        CheckpointKeyKind.ExtraState => "extra_state",
        CheckpointKeyKind.CommonState => "common_state",
        CheckpointKeyKind.Optimizer => "optimizer",
        CheckpointKeyKind.RngState => "rng_state",
        CheckpointKeyKind.RerunState => "rerun_state",
        _ => "other_state",
    };

    private static void Row(Table table, string name, string value) => table.AddRow(Markup.Escape(name), Markup.Escape(value));
}
