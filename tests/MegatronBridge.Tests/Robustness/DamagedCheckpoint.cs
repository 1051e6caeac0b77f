using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using MegatronBridge.Tests.Support;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// A work folder holding a copy of a fixture (<c>in/</c>) to damage, and the paths outputs go to. Every refused run
/// must leave the work folder with nothing but the inputs: no output folder, no hidden partial one.
/// </summary>
internal sealed class DamagedCheckpoint : IDisposable
{
    public const string SmallFixture = "qwen35-text-dense-tied-tiny";

    private readonly TempDir _temp = TestPaths.NewTempDir();

    public DamagedCheckpoint(string fixture = SmallFixture)
    {
        Directory.CreateDirectory(Input);
        foreach (var file in Directory.EnumerateFiles(TestPaths.Fixture(fixture)))
            File.Copy(file, Path.Combine(Input, Path.GetFileName(file)));
    }

    public string Root => _temp.Path;
    public string Input => _temp.Sub("in");
    public string Output => _temp.Sub("out");
    public string Safetensors => Path.Combine(Input, "model.safetensors");
    public string Config => Path.Combine(Input, "config.json");

    /// <summary>The entries of the work folder that are not inputs (must be empty after a refused run).</summary>
    public IReadOnlyList<string> Leftovers(params string[] inputs) =>
        Directory.EnumerateFileSystemEntries(Root).Select(p => Path.GetFileName(p)!)
            .Where(n => n != "in" && !inputs.Contains(n)).Order().ToList();

    public (int ExitCode, string Output, string Error) Import(params string[] extra) =>
        Cli.CliRunner.Run(new[] { "import", "--hf-model", Input, "--megatron-path", Output }.Concat(extra).ToArray());

    /// <summary>The safetensors header as JSON and the data section after it.</summary>
    public (JsonObject Header, byte[] Data) ReadSafetensors()
    {
        var bytes = File.ReadAllBytes(Safetensors);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return ((JsonObject)JsonNode.Parse(bytes.AsSpan(8, n))!, bytes[(8 + n)..]);
    }

    public void WriteSafetensors(JsonObject header, byte[] data) => WriteSafetensors(Encoding.UTF8.GetBytes(header.ToJsonString()), data);

    public void WriteSafetensors(byte[] header, byte[] data, ulong? declaredLength = null)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        File.WriteAllBytes(Safetensors, bytes);
    }

    public void EditSafetensorsHeader(Action<JsonObject> edit)
    {
        var (header, data) = ReadSafetensors();
        edit(header);
        WriteSafetensors(header, data);
    }

    public void EditConfig(Action<JsonObject> edit)
    {
        var config = (JsonObject)JsonNode.Parse(File.ReadAllText(Config))!;
        edit(config);
        File.WriteAllText(Config, config.ToJsonString());
    }

    public void Dispose() => _temp.Dispose();
}
