using System.Text.Json.Nodes;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchZip;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// verify compares the non-tensor state too: a flipped byte in a torch_dist <c>_extra_state</c> object or in the
/// common state makes it exit 2 naming the entry; an intact import counts them among the stored copies.
/// </summary>
public class VerifyStoredStateTests
{
    private static (DamagedCheckpoint Work, string Megatron) Import()
    {
        var work = new DamagedCheckpoint();
        var megatron = Path.Combine(work.Root, "mg");
        var run = Cli.CliRunner.Run("import", "--hf-model", work.Input, "--megatron-path", megatron);
        Assert.True(run.ExitCode == 0, run.Error);
        return (work, megatron);
    }

    /// <summary>Flips one byte in the middle of the stored object <paramref name="key"/> (located through the DCP metadata).</summary>
    private static void FlipObjectByte(string megatron, string key)
    {
        var folder = Path.Combine(megatron, MegatronCheckpointFolder.IterationFolderName(0));
        string file;
        long at;
        using (var checkpoint = TorchDistCheckpoint.Open(folder))
        {
            var item = checkpoint.Metadata.StorageData.Single(s => s.Key.Fqn == key && s.Key.Offset is null);
            file = Path.Combine(folder, item.Info.RelativePath);
            at = item.Info.Offset + item.Info.Length / 2;
        }
        var bytes = File.ReadAllBytes(file);
        bytes[at] ^= 0x01;
        File.WriteAllBytes(file, bytes);
    }

    [Fact]
    public void AnIntactImportCountsItsExtraStatesAndCommonState()
    {
        var (work, megatron) = Import();
        using var _ = work;
        var ok = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
        Assert.True(ok.ExitCode == 0, ok.Error);
        var json = JsonNode.Parse(ok.Output)!;
        int objects;
        using (var checkpoint = TorchDistCheckpoint.Open(Path.Combine(megatron, MegatronCheckpointFolder.IterationFolderName(0))))
            objects = checkpoint.ObjectKeys.Count;
        Assert.True(objects > 1, "the import wrote no extra states");
        Assert.Equal(objects, (int)json["states_checked"]!);
        Assert.Equal((int)json["stored_tensors"]! + objects, (int)json["stored_copies"]!);
        Assert.Empty(json["not_checked"]!.AsArray());
    }

    [Fact]
    public void AFlippedByteInAnExtraStateIsReported()
    {
        var (work, megatron) = Import();
        using var _ = work;
        string key;
        using (var checkpoint = TorchDistCheckpoint.Open(Path.Combine(megatron, MegatronCheckpointFolder.IterationFolderName(0))))
            key = checkpoint.ObjectKeys.First(k => k.Contains("linear_qkv._extra_state", StringComparison.Ordinal));
        FlipObjectByte(megatron, key);
        var before = TreeSnapshot.Take(work.Root);
        var bad = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
        Assert.Equal(2, bad.ExitCode);
        var name = Assert.Single(JsonNode.Parse(bad.Output)!["differences"]!.AsArray())!.GetValue<string>();
        Assert.Contains(key, name);
        Assert.Contains(key, bad.Error);
        before.AssertAllPreserved();
    }

    [Fact]
    public void AFlippedByteInTheCommonStateIsReported()
    {
        var (work, megatron) = Import();
        using var _ = work;
        FlipObjectByte(megatron, TorchDistCheckpoint.CommonStateKey);
        var bad = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains(TorchDistCheckpoint.CommonStateKey, bad.Error);
        Assert.Contains("differs from what import writes", bad.Error);
        Assert.Contains("FAILED", bad.Output);
    }

    [Fact]
    public void ATrainedCheckpointsStateIsListedAsNotCheckedRatherThanFailed()
    {
        using var tmp = Support.TestPaths.NewTempDir();
        var hf = Support.TestPaths.Fixture(DamagedCheckpoint.SmallFixture);
        var root = tmp.Sub("train");
        Jobs.TrainingCheckpointFixture.Write(hf, root, new Jobs.TrainingSave(1, 1, 1) { TrainingState = true });
        var run = Cli.CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", root, "--json");
        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        var json = JsonNode.Parse(run.Output)!;
        var notChecked = json["not_checked"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.Contains(notChecked, n => n.StartsWith(TorchDistCheckpoint.CommonStateKey, StringComparison.Ordinal) && n.Contains("not written by import"));
        Assert.Equal(0, (int)json["states_checked"]!);
        var text = Cli.CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", root);
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("not checked: " + TorchDistCheckpoint.CommonStateKey + " (not written by import)", text.Output);
    }

    [Fact]
    public void ALegacyImportsExtraStatesAndTopLevelEntriesAreChecked()
    {
        using var work = new DamagedCheckpoint();
        var megatron = Path.Combine(work.Root, "mg");
        var run = Cli.CliRunner.Run("import", "--hf-model", work.Input, "--megatron-path", megatron, "--format", "torch", "--tp", "2");
        Assert.True(run.ExitCode == 0, run.Error);
        var ok = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
        Assert.True(ok.ExitCode == 0, ok.Error);
        var json = JsonNode.Parse(ok.Output)!;
        // Two rank files, each with checkpoint_version, iteration and at least one extra state.
        Assert.True((int)json["states_checked"]! >= 2 * 3, json["states_checked"]!.ToJsonString());
        Assert.Empty(json["not_checked"]!.AsArray());
    }

    [Fact]
    public void ALegacyExtraStateOfAnotherDtypeIsReported()
    {
        using var work = new DamagedCheckpoint();
        var megatron = Path.Combine(work.Root, "mg");
        var run = Cli.CliRunner.Run("import", "--hf-model", work.Input, "--megatron-path", megatron, "--format", "torch");
        Assert.True(run.ExitCode == 0, run.Error);
        var file = Path.Combine(megatron, MegatronCheckpointFolder.IterationFolderName(0), "mp_rank_00", "model_optim_rng.pt");

        // The first uint8 storage in data.pkl is an _extra_state (the weights are bf16): make it int8, with the record's
        // CRC-32 updated in its local header and the central directory so that the file stays a valid archive.
        var bytes = File.ReadAllBytes(file);
        List<TorchZipRecord> records;
        using (var handle = File.OpenHandle(file))
            records = TorchZipArchive.Open(handle, file, 0, bytes.Length).Records.ToList();
        var pkl = records.Single(r => r.Name.EndsWith("data.pkl", StringComparison.Ordinal));
        var data = bytes.AsSpan((int)pkl.DataOffset, (int)pkl.Length);
        int at = data.IndexOf(Encoding.ASCII.GetBytes("ByteStorage"));
        Assert.True(at >= 0, "no uint8 storage in data.pkl");
        Encoding.ASCII.GetBytes("CharStorage").CopyTo(data[at..]);
        var oldCrc = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(oldCrc, pkl.Crc32);
        var newCrc = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(newCrc, Crc32.HashToUInt32(data));
        int replaced = 0;
        for (int i = 0; i + 4 <= bytes.Length; i++)
        {
            // Headers and the central directory: anywhere outside every record's data.
            bool inData = records.Any(r => i + 4 > r.DataOffset && i < r.DataOffset + r.Length);
            if (pkl.Crc32 != 0 && !inData && bytes.AsSpan(i, 4).SequenceEqual(oldCrc))
            {
                newCrc.CopyTo(bytes, i);
                replaced++;
            }
        }
        // A writer that stores no CRC (0) leaves nothing to update.
        Assert.True(pkl.Crc32 == 0 || replaced >= 2, $"CRC found {replaced} time(s)");
        File.WriteAllBytes(file, bytes);

        var bad = Cli.CliRunner.Run("verify", "--hf-model", work.Input, "--megatron-path", megatron, "--json");
        Assert.Equal(2, bad.ExitCode);
        // The pickle names the storage type once (memoised), so every extra state of the file now reads as int8.
        var names = JsonNode.Parse(bad.Output)!["differences"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        Assert.NotEmpty(names);
        Assert.All(names, name =>
        {
            Assert.Contains("_extra_state", name);
            Assert.Contains("mp_rank_00", name);
            Assert.Contains("tensor I8 [0], import writes tensor U8 [0]", name);
        });
        Assert.Contains("_extra_state", bad.Error);
    }
}
