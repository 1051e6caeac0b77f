using MegatronBridge.Formats.TorchZip;

namespace MegatronBridge.Tests.Robustness;

/// <summary>Corrupts a legacy rank file (<c>model_optim_rng.pt</c>) in place, for the verify tests.</summary>
internal static class RankFileDamage
{
    /// <summary>Flips one bit in the middle of the file's largest tensor record (the tiny models' embedding table).</summary>
    public static void FlipByteInLargestTensor(string file)
    {
        long at;
        using (var handle = File.OpenHandle(file))
        {
            var archive = TorchZipArchive.Open(handle, file, 0, RandomAccess.GetLength(handle));
            var largest = archive.Records.Where(r => r.Name.StartsWith("data/", StringComparison.Ordinal)).MaxBy(r => r.Length)!;
            at = largest.DataOffset + largest.Length / 2;
        }
        var bytes = File.ReadAllBytes(file);
        bytes[at] ^= 0x01;
        File.WriteAllBytes(file, bytes);
    }
}
