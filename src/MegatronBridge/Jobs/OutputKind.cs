using MegatronBridge.Conversion;
using MegatronBridge.Formats.TorchDist;

namespace MegatronBridge.Jobs;

/// <summary>What a conversion writes, so <c>--force</c> replaces only a folder that is recognisably the same kind of output.</summary>
internal enum OutputKind
{
    /// <summary>A Megatron checkpoint: tracker file, <c>iter_*</c> or <c>release</c> folders.</summary>
    MegatronCheckpoint,
    /// <summary>A Hugging Face folder: config.json with safetensors weights.</summary>
    HuggingFaceFolder,
}

/// <summary>Recognises an existing folder as an output of a kind, or says what it holds instead.</summary>
internal static class OutputRecognition
{
    /// <summary>Null when <paramref name="folder"/> is recognisably a <paramref name="kind"/>; otherwise why not, naming what it found.</summary>
    public static string? WhyNot(string folder, OutputKind kind)
    {
        var entries = Directory.EnumerateFileSystemEntries(folder).Select(p => Path.GetFileName(p)!).Order(StringComparer.Ordinal).ToList();
        bool recognised = kind switch
        {
            OutputKind.MegatronCheckpoint =>
                File.Exists(Path.Combine(folder, MegatronCheckpointFolder.TrackerFileName))
                || Directory.Exists(Path.Combine(folder, MegatronCheckpointFolder.ReleaseFolderName))
                || entries.Any(e => e.StartsWith("iter_", StringComparison.Ordinal) && Directory.Exists(Path.Combine(folder, e))),
            OutputKind.HuggingFaceFolder =>
                File.Exists(Path.Combine(folder, "config.json"))
                && entries.Any(e => e.EndsWith(".safetensors", StringComparison.Ordinal) || e.EndsWith(".safetensors.index.json", StringComparison.Ordinal)),
            _ => false,
        };
        if (recognised) return null;
        var expected = kind == OutputKind.MegatronCheckpoint
            ? $"a Megatron checkpoint ({MegatronCheckpointFolder.TrackerFileName}, iter_* or release)"
            : "a Hugging Face folder (config.json with *.safetensors)";
        var shown = string.Join(", ", entries.Take(8)) + (entries.Count > 8 ? $", ... ({entries.Count} entries)" : "");
        return $"--force replaces only {expected}, but it holds {shown}; nothing was changed (remove or move it yourself, or choose another output)";
    }
}
