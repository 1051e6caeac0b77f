using System.CommandLine;
using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Cli.Commands;

/// <summary><c>megatron-bridge import</c>: Hugging Face folder -> Megatron checkpoint (flag names as Megatron-Bridge's).</summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var hfModel = new Option<DirectoryInfo>("--hf-model") { Description = "Hugging Face checkpoint folder (config.json + safetensors).", Required = true };
        var megatronPath = new Option<string>("--megatron-path") { Description = "Output folder for the Megatron checkpoint.", Required = true };
        var dtype = new Option<string?>("--torch-dtype") { Description = "Parameter dtype: bfloat16, float16 or float32 (default: keep the checkpoint's)." };
        dtype.AcceptOnlyFromAmong("bfloat16", "float16", "float32");
        var format = new Option<string>("--format") { Description = "torch_dist (PyTorch DCP, default) or torch (legacy per-rank files).", DefaultValueFactory = _ => "torch_dist" };
        format.AcceptOnlyFromAmong("torch_dist", "torch");
        var parallel = new ParallelOptions();
        var force = new Option<bool>("--force") { Description = "Replace an existing output folder." };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (errors too, on stderr)." };
        var quiet = new Option<bool>("--quiet") { Description = "No progress bar or progress lines." };
        var languageOnly = new Option<bool>("--language-only") { Description = "Import only the language model of a Qwen3.5/3.6 VL checkpoint (LM-only provider from text_config)." };
        var vocabDivisible = new Option<int?>("--make-vocab-size-divisible-by") { Description = "Pad the embedding and output layer with zero rows to a multiple of N x --tp, as Megatron-LM does (default: no padding)." };
        vocabDivisible.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is <= 0) r.AddError("--make-vocab-size-divisible-by must be a positive integer"); });
        var ignore = new Option<string[]>("--ignore-hf-tensor") { Description = "HF tensor that may stay unmapped (repeatable).", AllowMultipleArgumentsPerToken = true };
        var noMtp = new Option<bool>("--no-mtp") { Description = "Leave the MTP block out (as a checkpoint without mtp.* tensors is converted); Megatron then runs without --mtp-num-layers." };
        var mtpLayerName = new Option<string?>("--mtp-layer-name") { Description = "MTP inner-layer name to write: transformer_layer or mtp_model_layer (default: what current megatron-core reads, transformer_layer for torch_dist, mtp_model_layer for torch)." };
        mtpLayerName.AcceptOnlyFromAmong(MtpLayerNames.TransformerLayer, MtpLayerNames.ModelLayer);
        var noGroupedGemm = new Option<bool>("--no-grouped-gemm") { Description = "--format torch: write routed experts as SequentialMLP modules (local_experts.N.linear_fc1.weight), for Megatron-LM without --moe-grouped-gemm; torch_dist keys are the same either way." };

        var stepDelay = WriteStepDelayOption.Create();

        var command = new Command("import", "Convert a Hugging Face checkpoint into a Megatron-Core checkpoint.");
        foreach (var o in new Option[] { hfModel, megatronPath, dtype, format, force, json, quiet, ignore, languageOnly, vocabDivisible, noMtp, mtpLayerName, noGroupedGemm, stepDelay }) command.Options.Add(o);
        parallel.AddTo(command);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            bool asJson = parse.GetValue(json);
            return CommandErrors.Run("import", error, () =>
            {
                bool legacy = parse.GetValue(format) == "torch";
                // torch_dist stores whole tensors, so a parallel size only matters there as the TP that Megatron-LM
                // pads the vocabulary for (--make-vocab-size-divisible-by x --tp).
                bool padsVocab = parse.GetValue(vocabDivisible) is not null;
                if (!legacy && parallel.GivenNonDefault(parse, exceptTp: padsVocab) is { Count: > 0 } given)
                    throw new InvalidInputException($"{string.Join(", ", given)}: parallel sizes apply only to --format torch (and --tp to torch_dist with --make-vocab-size-divisible-by, for the padded vocabulary); a torch_dist checkpoint stores whole tensors that Megatron-Core reshards to whatever layout loads it (drop the flag, or add --format torch)");
                var request = new ImportRequest(parse.GetValue(hfModel)!.FullName, parse.GetValue(megatronPath)!)
                {
                    Format = legacy ? MegatronFormat.Torch : MegatronFormat.TorchDist,
                    Layout = parallel.Read(parse),
                    ParamDType = parse.GetValue(dtype) is { } d && DTypes.TryFromTorchName(d, out var t) ? t : null,
                    Force = parse.GetValue(force),
                    IgnoredHfTensors = parse.GetValue(ignore) ?? Array.Empty<string>(),
                    LanguageOnly = parse.GetValue(languageOnly),
                    NoMtp = parse.GetValue(noMtp),
                    MtpLayerName = parse.GetValue(mtpLayerName),
                    SequentialExperts = parse.GetValue(noGroupedGemm),
                    MakeVocabSizeDivisibleBy = parse.GetValue(vocabDivisible),
                };
                var result = ConversionReport.WithProgress(output, error, "import", asJson || parse.GetValue(quiet), progress => CheckpointConverter.Import(request, WriteStepDelayOption.Slow(progress, parse.GetValue(stepDelay))));
                NonFiniteWarnings.Write(error, "import", result.NonFinite);
                if (result.MtpLeftOut is { } mtp)
                    error.WriteLine($"import: warning: {request.HfModel}: config.json declares {mtp.ConfigLayers} MTP layer(s), left out ({mtp.Reason}): "
                        + $"{MtpJson.Names(mtp.HfTensors)} not converted. {MtpSelection.MegatronHint}");
                NonFiniteWarnings.WriteScales(error, "import", result.OutOfRangeScales);
                ConversionReport.Warnings(error, "import", result.Warnings);
                // Counted from what was written, as inspect --megatron-path and verify count them (metadata only).
                var stored = MegatronCheckpointInspection.Inspect(result.IterationFolder);
                if (asJson)
                {
                    JsonOutput.Write(output, new JsonObject
                    {
                        ["megatron_path"] = result.MegatronPath,
                        ["iteration_folder"] = result.IterationFolder,
                        ["architecture"] = result.Architecture,
                        ["bridge"] = result.Bridge,
                        ["format"] = ConversionReport.FormatName(result.Format),
                        ["parallel"] = new JsonObject { ["tp"] = result.Layout.Tp, ["pp"] = result.Layout.Pp, ["vpp"] = result.Layout.Vpp, ["ep"] = result.Layout.Ep, ["etp"] = result.Layout.Etp },
                        ["tensors"] = result.Tensors,
                        ["bytes"] = result.Bytes,
                        ["mtp_num_layers"] = result.Provider?.MtpNumLayers,
                        ["mtp_layer_name"] = result.MtpLayerName,
                        ["mtp_left_out"] = MtpJson.LeftOut(result.MtpLeftOut),
                        ["sequential_experts"] = result.SequentialExperts,
                        ["seconds"] = result.Elapsed.TotalSeconds,
                        ["vocab_rows"] = result.VocabRows,
                        ["stored_tensors"] = stored.Tensors,
                        ["stored_copies"] = stored.StoredCopies,
                    });
                }
                else
                {
                    ConversionReport.Summary(output, "Import", new[]
                    {
                        ("architecture", result.Architecture),
                        ("bridge", result.Bridge),
                        ("format", result.Format == MegatronFormat.Torch ? $"torch (legacy per-rank, {result.Layout})" : "torch_dist"),
                        ("tensors", result.Tensors.ToString()),
                        ("stored tensors", stored.Tensors.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                        ("stored copies", stored.StoredCopies.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                        ("vocabulary rows", result.VocabRows.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                        ("bytes", ConversionReport.Bytes(result.Bytes)),
                        ("MTP", MtpJson.Summary(result.MtpLeftOut, result.MtpLayerName)),
                        ("experts", result.SequentialExperts ? "sequential (local_experts.N, no grouped GEMM)" : "-"),
                        ("time", ConversionReport.Time(result.Bytes, result.Elapsed)),
                        ("checkpoint", result.MegatronPath),
                    });
                    output.WriteLine($"Megatron checkpoint written to {result.MegatronPath} (load it with --load {result.MegatronPath} --finetune, or --no-load-optim --no-load-rng)");
                }
                return 0;
            }, json: asJson);
        });
        return command;
    }
}
