using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;

namespace MegatronBridge.Tests.Jobs;

/// <summary>Builds checkpoint shapes users bring from the fixtures, and reads back the names a Megatron checkpoint holds.</summary>
internal static class CheckpointVariantFixture
{
    public static bool IsMtp(string hfName) => hfName.StartsWith("mtp.", StringComparison.Ordinal);

    /// <summary>
    /// A copy of a fixture folder (config, generation config, reference outputs) whose weights lack every <c>mtp.*</c>
    /// tensor, as transformers' save_pretrained leaves a fine-tuned Qwen3.5.
    /// </summary>
    public static string CopyWithoutMtp(string fixture, string destination)
    {
        var source = TestPaths.Fixture(fixture);
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source).Where(f => Path.GetFileName(f) != SafetensorsCheckpoint.SingleFileName))
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        using var original = SafetensorsCheckpoint.Open(source);
        var kept = original.Tensors.Where(t => !IsMtp(t.Name)).ToList();
        using var writer = SafetensorsWriter.Create(Path.Combine(destination, SafetensorsCheckpoint.SingleFileName), kept);
        foreach (var t in kept) writer.WriteTensor(t.Name, original.ReadAll(t.Name));
        writer.Commit();
        return destination;
    }

    public static int MtpTensorCount(string fixture)
    {
        using var original = SafetensorsCheckpoint.Open(TestPaths.Fixture(fixture));
        return original.Tensors.Count(t => IsMtp(t.Name));
    }

    /// <summary>Every tensor / object name in every legacy rank file of the iteration folder.</summary>
    public static IReadOnlyList<string> LegacyNames(string iterationFolder)
    {
        var names = new List<string>();
        foreach (var rank in Directory.GetDirectories(iterationFolder, "mp_rank_*").Order(StringComparer.Ordinal))
        {
            using var file = LegacyCheckpointFile.Open(Path.Combine(rank, LegacyCheckpointNames.FileName), modelKey: null);
            foreach (var key in file.ModelKeys) names.AddRange(file.ChunkTensors(key).Select(t => t.Name));
        }
        return names;
    }

    /// <summary>The tensor keys of a torch_dist iteration folder.</summary>
    public static IReadOnlyList<string> DistTensorKeys(string iterationFolder)
    {
        using var checkpoint = TorchDistCheckpoint.Open(iterationFolder);
        return checkpoint.Tensors.Select(t => t.Name).ToList();
    }
}
