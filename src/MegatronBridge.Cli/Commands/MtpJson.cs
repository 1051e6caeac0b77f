using System.Text.Json.Nodes;
using MegatronBridge.Models;

namespace MegatronBridge.Cli.Commands;

/// <summary>How import and export report an MTP block they left out (JSON result and summary row).</summary>
internal static class MtpJson
{
    /// <summary>null when nothing was left out; else the layers config.json declares, why, and the HF tensors concerned.</summary>
    public static JsonNode? LeftOut(MtpOmission? omission) => omission is null ? null : new JsonObject
    {
        ["config_layers"] = omission.ConfigLayers,
        ["reason"] = omission.Reason,
        ["hf_tensors"] = new JsonArray(omission.HfTensors.Select(n => (JsonNode)n).ToArray()),
    };

    private const int MaxListed = 20;

    /// <summary>"N tensor(s): a, b, ..." listing at most 20 names (a per-expert MTP block has thousands).</summary>
    public static string Names(IReadOnlyList<string> names) =>
        $"{names.Count} tensor(s): {string.Join(", ", names.Take(MaxListed))}" + (names.Count > MaxListed ? $" and {names.Count - MaxListed} more" : "");

    public static string Summary(MtpOmission? omission, string? layerName) =>
        omission is { } m ? $"left out ({m.Reason}; {m.HfTensors.Count} tensor(s)); mtp_num_layers None"
        : layerName is null ? "none" : $"inner layer '{layerName}'";
}
