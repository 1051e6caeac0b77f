using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchDist;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// Damaged Megatron checkpoints given to <c>megatron-bridge export</c>: refused with exit 1, a message naming the file
/// and what is wrong in it, and no HF output folder (nor a hidden partial one) afterwards.
/// </summary>
public class HostileExportTests
{
    private sealed class Exported : IDisposable
    {
        public Exported()
        {
            var run = Cli.CliRunner.Run("import", "--hf-model", Work.Input, "--megatron-path", Megatron);
            Assert.True(run.ExitCode == 0, run.Error);
        }

        public DamagedCheckpoint Work { get; } = new();
        public string Megatron => Path.Combine(Work.Root, "mg");
        public string Iteration => Path.Combine(Megatron, MegatronCheckpointFolder.IterationFolderName(0));
        public string Metadata => Path.Combine(Iteration, TorchDistWriter.MetadataFileName);
        public string Data => Path.Combine(Iteration, TorchDistWriter.DataFileName);

        public (int ExitCode, string Output, string Error) Export() =>
            Cli.CliRunner.Run("export", "--hf-model", Work.Input, "--megatron-path", Megatron, "--hf-path", Path.Combine(Work.Root, "hf"));

        public void AssertRefused((int ExitCode, string Output, string Error) run, params string[] mentions)
        {
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
    [InlineData("subprocess", "Popen")]
    public void MetadataPickleAskingForAForbiddenGlobalIsRefused(string module, string name)
    {
        using var mg = new Exported();
        var payload = PyInstance.Reduce(new PyGlobal(module, name), new PyStr("touch /tmp/megatron-bridge-pwned"));
        File.WriteAllBytes(mg.Metadata, PickleWriter.Serialize(payload, 2));
        mg.AssertRefused(mg.Export(), mg.Metadata, $"{module}.{name}", "not allowed");
    }

    [Fact]
    public void TruncatedMetadataIsRefused()
    {
        using var mg = new Exported();
        var bytes = File.ReadAllBytes(mg.Metadata);
        File.WriteAllBytes(mg.Metadata, bytes[..(bytes.Length / 2)]);
        mg.AssertRefused(mg.Export(), mg.Metadata);
    }

    [Fact]
    public void MetadataThatIsNotAPickleIsRefused()
    {
        using var mg = new Exported();
        File.WriteAllText(mg.Metadata, "{\"this\": \"is json\"}");
        mg.AssertRefused(mg.Export(), mg.Metadata);
    }

    [Fact]
    public void TruncatedDataFileIsRefused()
    {
        using var mg = new Exported();
        var bytes = File.ReadAllBytes(mg.Data);
        File.WriteAllBytes(mg.Data, bytes[..(bytes.Length - 1000)]);
        mg.AssertRefused(mg.Export(), TorchDistWriter.DataFileName);
    }

    [Fact]
    public void MissingDataFileIsRefused()
    {
        using var mg = new Exported();
        File.Delete(mg.Data);
        mg.AssertRefused(mg.Export(), TorchDistWriter.DataFileName);
    }

    [Theory]
    [InlineData("seven")]
    [InlineData("-3")]
    [InlineData("99")]
    [InlineData("")]
    public void BadTrackerIsRefused(string tracker)
    {
        using var mg = new Exported();
        File.WriteAllText(Path.Combine(mg.Megatron, MegatronCheckpointFolder.TrackerFileName), tracker);
        mg.AssertRefused(mg.Export(), MegatronCheckpointFolder.TrackerFileName);
    }

    [Fact]
    public void EmptyMegatronFolderIsRefused()
    {
        using var mg = new Exported();
        Directory.Delete(mg.Megatron, recursive: true);
        Directory.CreateDirectory(mg.Megatron);
        mg.AssertRefused(mg.Export(), mg.Megatron);
    }

    [Fact]
    public void ConfigThatDoesNotMatchTheCheckpointIsRefused()
    {
        using var mg = new Exported();
        // Twice the layers: the checkpoint lacks layers 8..15.
        mg.Work.EditConfig(c =>
        {
            c["num_hidden_layers"] = 16;
            var types = (System.Text.Json.Nodes.JsonArray)c["layer_types"]!;
            foreach (var t in types.Select(x => x!.GetValue<string>()).ToList()) types.Add(t);
        });
        mg.AssertRefused(mg.Export(), "decoder.layers.");
    }
}
