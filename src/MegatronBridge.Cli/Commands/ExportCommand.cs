using System.CommandLine;
using System.Text.Json.Nodes;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;

namespace MegatronBridge.Cli.Commands;

/// <summary><c>megatron-bridge export</c>: Megatron checkpoint -> Hugging Face folder (flag names as Megatron-Bridge's).</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var hfModel = new Option<DirectoryInfo>("--hf-model") { Description = "The original Hugging Face folder: config.json (required), tokenizer/processor files and weights (for names, order and shard layout).", Required = true };
        var megatronPath = new Option<DirectoryInfo>("--megatron-path") { Description = "Megatron checkpoint: the folder with latest_checkpointed_iteration.txt, or an iter_XXXXXXX / release folder.", Required = true };
        var hfPath = new Option<string>("--hf-path") { Description = "Output Hugging Face folder.", Required = true };
        var shard = new Option<string?>("--max-shard-size") { Description = "Shard size limit, e.g. 5GB (default: the original shard layout)." };
        var force = new Option<bool>("--force") { Description = "Replace an existing output folder." };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (errors too, on stderr)." };
        var quiet = new Option<bool>("--quiet") { Description = "No progress bar or progress lines." };
        var languageOnly = new Option<bool>("--language-only") { Description = "Write the LM-only HF layout (checkpoint imported with --language-only; detected when absent)." };
        var dtype = new Option<string?>("--torch-dtype") { Description = "Dtype of the written tensors: bfloat16, float16 or float32 (default: what config.json declares); config.json then says so." };
        dtype.AcceptOnlyFromAmong("bfloat16", "float16", "float32");
        var quantize = new Option<string?>("--quantize") { Description = "fp8: write blockwise FP8 weights (e4m3, one scale per 128x128 block) as Qwen's -FP8 releases do." };
        quantize.AcceptOnlyFromAmong("fp8");
        var stepDelay = WriteStepDelayOption.Create();

        var command = new Command("export", "Convert a Megatron-Core checkpoint back into a Hugging Face folder.");
        foreach (var o in new Option[] { hfModel, megatronPath, hfPath, shard, force, json, quiet, languageOnly, dtype, quantize, stepDelay }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            bool asJson = parse.GetValue(json);
            return CommandErrors.Run("export", error, () =>
            {
                var request = new ExportRequest(parse.GetValue(hfModel)!.FullName, parse.GetValue(megatronPath)!.FullName, parse.GetValue(hfPath)!)
                {
                    MaxShardBytes = parse.GetValue(shard) is { } s ? ShardSize.Parse(s) : null,
                    Force = parse.GetValue(force),
                    LanguageOnly = parse.GetValue(languageOnly) ? true : null,
                    TorchDType = parse.GetValue(dtype) is { } d && DTypes.TryFromTorchName(d, out var t) ? t : null,
                    Quantize = parse.GetValue(quantize) == "fp8" ? ExportQuantization.Fp8 : ExportQuantization.None,
                };
                var result = ConversionReport.WithProgress(output, error, "export", asJson || parse.GetValue(quiet), progress => CheckpointConverter.Export(request, WriteStepDelayOption.Slow(progress, parse.GetValue(stepDelay))));
                ConversionReport.Warnings(error, "export", result.Warnings);
                if (asJson)
                {
                    JsonOutput.Write(output, new JsonObject
                    {
                        ["hf_path"] = result.HfPath,
                        ["source"] = result.SourceFolder,
                        ["architecture"] = result.Architecture,
                        ["bridge"] = result.Bridge,
                        ["format"] = ConversionReport.FormatName(result.Format),
                        ["language_only"] = result.LanguageOnly,
                        ["tensors"] = result.Tensors,
                        ["bytes"] = result.Bytes,
                        ["lossy_tensors"] = new JsonArray(result.LossyTensors.Select(n => (JsonNode)n).ToArray()),
                        ["skipped_keys"] = new JsonArray(result.SkippedKeys.Select(n => (JsonNode)n).ToArray()),
                        ["mtp_left_out"] = MtpJson.LeftOut(result.MtpLeftOut),
                        ["seconds"] = result.Elapsed.TotalSeconds,
                        ["dtype"] = result.WrittenDType?.TorchName(),
                    });
                }
                else
                {
                    ConversionReport.Summary(output, "Export", new[]
                    {
                        ("architecture", result.Architecture),
                        ("bridge", result.Bridge),
                        ("source", result.SourceFolder + (result.Format == MegatronFormat.Torch ? " (legacy per-rank torch)" : " (torch_dist)")),
                        ("tensors", result.Tensors.ToString() + (result.WrittenDType is { } w ? $" ({w.TorchName()})" : "")),
                        ("bytes", ConversionReport.Bytes(result.Bytes)),
                        ("time", ConversionReport.Time(result.Bytes, result.Elapsed)),
                        ("not bit-exact", result.LossyTensors.Count == 0 ? "none" : $"{result.LossyTensors.Count} GDN output norm(s): bf16(bf16(w - 1) + 1)"),
                        ("MTP", result.MtpLeftOut is { } mtp ? $"not written: {mtp.Reason} ({mtp.HfTensors.Count} mtp.* tensor(s) of config.json's {mtp.ConfigLayers} layer(s))" : "as in the checkpoint"),
                        ("skipped keys", result.SkippedKeys.Count == 0 ? "0" : $"{result.SkippedKeys.Count} (optimizer / rng / other training state)"),
                        ("written to", result.HfPath),
                    });
                }
                return 0;
            }, json: asJson);
        });
        return command;
    }
}
