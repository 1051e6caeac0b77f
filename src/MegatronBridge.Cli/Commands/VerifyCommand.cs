using System.CommandLine;
using System.Text.Json.Nodes;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// <c>megatron-bridge verify</c>: recomputes the HF -> Megatron mapping and checks every parameter's bytes (SHA-256)
/// against the Megatron checkpoint; exit 0 when all match, 2 when any differs, 1 when the input cannot be read.
/// </summary>
internal static class VerifyCommand
{
    public const int DifferencesExitCode = 2;
    private const int MaxListed = 50;

    public static Command Create()
    {
        var hfModel = new Option<DirectoryInfo>("--hf-model") { Description = "Hugging Face checkpoint folder (config.json + safetensors).", Required = true };
        var megatronPath = new Option<DirectoryInfo>("--megatron-path") { Description = "Megatron checkpoint: the folder with latest_checkpointed_iteration.txt, or an iter_XXXXXXX / release folder.", Required = true };
        var languageOnly = new Option<bool>("--language-only") { Description = "The checkpoint holds only the language model of a VL checkpoint (import --language-only); detected when not given." };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (every tensor with both digests; errors too, on stderr)." };
        var quiet = new Option<bool>("--quiet") { Description = "No progress bar or progress lines." };
        var ignore = new Option<string[]>("--ignore-hf-tensor") { Description = "HF tensor that the import left unmapped (repeatable), as given to import.", AllowMultipleArgumentsPerToken = true };
        var command = new Command("verify", "Check that a Megatron checkpoint holds exactly the bytes an HF checkpoint maps to (SHA-256 per tensor).");
        foreach (var o in new Option[] { hfModel, megatronPath, languageOnly, json, quiet, ignore }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            bool asJson = parse.GetValue(json);
            return CommandErrors.Run("verify", error, () =>
            {
                var result = ConversionReport.WithProgress(output, error, "verify", asJson || parse.GetValue(quiet),
                    progress => CheckpointVerifier.Verify(parse.GetValue(hfModel)!.FullName, parse.GetValue(megatronPath)!.FullName, progress,
                        languageOnly: parse.GetValue(languageOnly) ? true : null, ignoredHfTensors: parse.GetValue(ignore) ?? Array.Empty<string>()));
                if (asJson) JsonOutput.Write(output, ToJson(result));
                else WriteText(output, result);
                foreach (var t in result.Differences.Take(MaxListed))
                    error.WriteLine(t.HfSources.Count == 0 && result.States.Contains(t)
                        ? $"verify: {result.MegatronFolder}: '{t.Name}' differs from what import writes (first at byte {t.FirstDifference}; sha256 expected {t.ExpectedSha256}, stored {t.StoredSha256})"
                        : $"verify: {result.MegatronFolder}: tensor '{t.Name}' differs from the HF mapping (first at byte {t.FirstDifference}; from {string.Join(", ", t.HfSources)}; sha256 expected {t.ExpectedSha256}, stored {t.StoredSha256})");
                if (result.Differences.Count > MaxListed)
                    error.WriteLine($"verify: {result.Differences.Count - MaxListed} more tensors differ");
                return result.Matches ? 0 : DifferencesExitCode;
            }, json: asJson);
        });
        return command;
    }

    private static void WriteText(TextWriter output, VerificationResult result)
    {
        ConversionReport.Summary(output, "Verify", new[]
        {
            ("architecture", result.Architecture),
            ("bridge", result.Bridge),
            ("tensors", result.Tensors.Count.ToString()),
            ("stored tensors", result.StoredTensors.ToString()),
            ("stored copies", result.StoredCopies.ToString()),
            ("bytes", ConversionReport.Bytes(result.Bytes)),
            ("differences", result.Differences.Count.ToString()),
            ("unmapped keys", result.UnmappedKeys.Count.ToString()),
            ("states checked", $"{result.States.Count} (extra states, common state)"),
            ("checkpoint", result.MegatronFolder),
        });
        output.WriteLine(result.Matches
            ? $"OK: all {result.Tensors.Count} tensors match {result.HfModel} ({result.StoredCopies} stored copies checked)"
            : $"FAILED: {result.Differences.Count} of {result.StoredCopies} stored copies differ ({result.Tensors.Count} tensors)");
        foreach (var entry in result.NotChecked) output.WriteLine($"not checked: {entry}");
        if (result.MtpLeftOut is { } mtp)
            output.WriteLine($"MTP not checked: {mtp.Reason} (config.json declares {mtp.ConfigLayers} layer(s); its {mtp.HfTensors.Count} mtp.* HF tensor(s) were not compared)");
    }

    private static JsonObject ToJson(VerificationResult result)
    {
        var tensors = new JsonArray();
        foreach (var t in result.Tensors)
        {
            tensors.Add(new JsonObject
            {
                ["name"] = t.Name,
                ["hf_sources"] = new JsonArray(t.HfSources.Select(s => (JsonNode?)s).ToArray()),
                ["dtype"] = t.DType.SafetensorsName(),
                ["shape"] = new JsonArray(t.Shape.AsSpan().ToArray().Select(d => (JsonNode?)d).ToArray()),
                ["bytes"] = t.Bytes,
                ["expected_sha256"] = t.ExpectedSha256,
                ["stored_sha256"] = t.StoredSha256,
                ["match"] = t.Matches,
                ["first_difference"] = t.FirstDifference,
            });
        }
        return new JsonObject
        {
            ["hf_model"] = result.HfModel,
            ["megatron_folder"] = result.MegatronFolder,
            ["architecture"] = result.Architecture,
            ["bridge"] = result.Bridge,
            ["match"] = result.Matches,
            ["tensors_checked"] = result.Tensors.Count,
            ["differences"] = new JsonArray(result.Differences.Select(t => (JsonNode?)t.Name).ToArray()),
            ["stored_copies"] = result.StoredCopies,
            ["unmapped_keys"] = new JsonArray(result.UnmappedKeys.Select(k => (JsonNode?)k).ToArray()),
            ["bytes"] = result.Bytes,
            ["tensors"] = tensors,
            ["states_checked"] = result.States.Count,
            ["not_checked"] = new JsonArray(result.NotChecked.Select(k => (JsonNode?)k).ToArray()),
            ["stored_tensors"] = result.StoredTensors,
            ["mtp_left_out"] = MtpJson.LeftOut(result.MtpLeftOut),
        };
    }
}
