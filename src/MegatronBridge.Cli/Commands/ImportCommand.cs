using System.CommandLine;
using System.Text.Json.Nodes;
using MegatronBridge.Conversion;
using MegatronBridge.Conversion.Checkpoints;
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
        var ignore = new Option<string[]>("--ignore-hf-tensor") { Description = "HF tensor that may stay unmapped (repeatable).", AllowMultipleArgumentsPerToken = true };

        var command = new Command("import", "Convert a Hugging Face checkpoint into a Megatron-Core checkpoint.");
        foreach (var o in new Option[] { hfModel, megatronPath, dtype, format, force, json, quiet, ignore, languageOnly }) command.Options.Add(o);
        parallel.AddTo(command);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            bool asJson = parse.GetValue(json);
            return CommandErrors.Run("import", error, () =>
            {
                bool legacy = parse.GetValue(format) == "torch";
                if (!legacy && parallel.GivenNonDefault(parse) is { Count: > 0 } given)
                    throw new ArgumentException($"{string.Join(", ", given)}: parallel sizes apply only to --format torch; a torch_dist checkpoint stores whole tensors that Megatron-Core reshards to whatever layout loads it (drop the flag, or add --format torch)");
                var request = new ImportRequest(parse.GetValue(hfModel)!.FullName, parse.GetValue(megatronPath)!)
                {
                    Format = legacy ? MegatronFormat.Torch : MegatronFormat.TorchDist,
                    Layout = parallel.Read(parse),
                    ParamDType = parse.GetValue(dtype) is { } d && DTypes.TryFromTorchName(d, out var t) ? t : null,
                    Force = parse.GetValue(force),
                    IgnoredHfTensors = parse.GetValue(ignore) ?? Array.Empty<string>(),
                    LanguageOnly = parse.GetValue(languageOnly),
                };
                var result = ConversionReport.WithProgress(output, error, "import", asJson || parse.GetValue(quiet), progress => CheckpointConverter.Import(request, progress));
                NonFiniteWarnings.Write(error, "import", result.NonFinite);
                ConversionReport.Warnings(error, "import", result.Warnings);
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
                        ["seconds"] = result.Elapsed.TotalSeconds,
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
                        ("bytes", ConversionReport.Bytes(result.Bytes)),
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
