using System.Text;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Formats.TorchZip;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// Hostile legacy per-rank files (<c>mp_rank_XX/model_optim_rng.pt</c>, torch.save zip archives) given to
/// <c>megatron-bridge export</c>: refused with exit 1 and the rank file named, nothing executed, no output left.
/// </summary>
public class HostileLegacyExportTests
{
    private sealed class Legacy : IDisposable
    {
        public Legacy()
        {
            var run = Cli.CliRunner.Run("import", "--hf-model", Work.Input, "--megatron-path", Megatron, "--format", "torch", "--tp", "2");
            Assert.True(run.ExitCode == 0, run.Error);
        }

        public DamagedCheckpoint Work { get; } = new();
        public string Megatron => Path.Combine(Work.Root, "mg");
        public string RankFile => LegacyCheckpointNames.RankFile(Path.Combine(Megatron, MegatronCheckpointFolder.IterationFolderName(0)), tensorRank: 1);

        public void AssertRefused(params string[] mentions)
        {
            var run = Cli.CliRunner.Run("export", "--hf-model", Work.Input, "--megatron-path", Megatron, "--hf-path", Path.Combine(Work.Root, "hf"));
            Assert.Equal(1, run.ExitCode);
            Assert.StartsWith("export: ", run.Error);
            foreach (var m in mentions) Assert.Contains(m, run.Error);
            Assert.Equal(new[] { "mg" }, Work.Leftovers());
        }

        public void Dispose() => Work.Dispose();
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    public void RankFileAskingForAForbiddenGlobalIsRefused(string module, string name)
    {
        using var legacy = new Legacy();
        var state = new PyDict().Add("iteration", 0L).Add("checkpoint_version", 3.0)
            .Add("model", PyInstance.Reduce(new PyGlobal(module, name), new PyStr("touch /tmp/megatron-bridge-pwned")));
        TorchSave.WriteFile(legacy.RankFile, state);
        legacy.AssertRefused(legacy.RankFile, $"{module}.{name}", "not allowed");
    }

    [Fact]
    public void TruncatedRankFileIsRefused()
    {
        using var legacy = new Legacy();
        var bytes = File.ReadAllBytes(legacy.RankFile);
        File.WriteAllBytes(legacy.RankFile, bytes[..(bytes.Length * 2 / 3)]);
        legacy.AssertRefused(legacy.RankFile);
    }

    [Fact]
    public void RankFileRecordClimbingOutOfTheArchiveIsRefused()
    {
        using var legacy = new Legacy();
        var bytes = File.ReadAllBytes(legacy.RankFile);
        // Rename the data.pkl record to a same-length name with a parent reference, in both zip headers.
        var from = Encoding.ASCII.GetBytes("/data.pkl");
        var to = Encoding.ASCII.GetBytes("/../d.pkl");
        int replaced = 0;
        for (int i = 0; i + from.Length <= bytes.Length; i++)
            if (bytes.AsSpan(i, from.Length).SequenceEqual(from)) { to.CopyTo(bytes, i); replaced++; }
        Assert.True(replaced >= 2);
        File.WriteAllBytes(legacy.RankFile, bytes);
        legacy.AssertRefused(legacy.RankFile, "../d.pkl");
    }

    [Fact]
    public void MissingRankFileIsRefused()
    {
        using var legacy = new Legacy();
        File.Delete(legacy.RankFile);
        legacy.AssertRefused("mp_rank_01");
    }
}
