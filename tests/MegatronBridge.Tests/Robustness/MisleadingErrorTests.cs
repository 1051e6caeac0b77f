using System.Text.Json.Nodes;
using MegatronBridge.Cli.Commands;
using Xunit;
using static MegatronBridge.Tests.Cli.CliRunner;

namespace MegatronBridge.Tests.Robustness;

/// <summary>Errors that used to mislead now name the flag, field or tensor at fault; each leaves every file as it was.</summary>
public class MisleadingErrorTests
{
    [Theory]
    [InlineData("--tp", "2")]
    [InlineData("--pp", "2")]
    [InlineData("--ep", "4")]
    public void ParallelSizesGivenToATorchDistImportAreRefused(string flag, string value)
    {
        using var work = new DamagedCheckpoint();
        var before = TreeSnapshot.Take(work.Root);
        var r = work.Import(flag, value);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{flag} {value}", r.Error);
        Assert.Contains("--format torch", r.Error);
        before.AssertUnchanged();
        Assert.Equal(0, work.Import("--tp", "1").ExitCode);
    }

    [Fact]
    public void OnlyTpIsTakenByATorchDistImportThatPadsTheVocabulary()
    {
        using var work = new DamagedCheckpoint();
        var before = TreeSnapshot.Take(work.Root);
        var r = work.Import("--make-vocab-size-divisible-by", "8", "--tp", "2", "--pp", "2");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--pp 2", r.Error);
        Assert.DoesNotContain("--tp 2", r.Error);
        before.AssertUnchanged();
        Assert.Equal(0, work.Import("--make-vocab-size-divisible-by", "8", "--tp", "2").ExitCode);
    }

    [Theory]
    [InlineData("hidden_size", "64.5")]
    [InlineData("num_hidden_layers", "1e30")]
    [InlineData("vocab_size", "4611686018427387904")]
    public void ABadNumericConfigFieldIsNamed(string field, string value)
    {
        using var work = new DamagedCheckpoint();
        work.EditConfig(c => c[field] = JsonNode.Parse(value));
        var before = TreeSnapshot.Take(work.Root);
        foreach (var args in new[] { new[] { "import", "--hf-model", work.Input, "--megatron-path", work.Output }, new[] { "inspect", work.Input } })
        {
            var r = Run(args);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains(work.Config, r.Error);
            Assert.Contains($"field '{field}'", r.Error);
            Assert.DoesNotContain("a field has a value", r.Error);
        }
        before.AssertUnchanged();
    }

    [Fact]
    public void AMisspelledIgnoredTensorIsRefusedByName()
    {
        using var work = new DamagedCheckpoint();
        var before = TreeSnapshot.Take(work.Root);
        var r = work.Import("--ignore-hf-tensor", "lm_haed.weight");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("lm_haed.weight", r.Error);
        Assert.Contains("does not hold", r.Error);
        before.AssertUnchanged();
    }

    [Fact]
    public void VerifyAcceptsTheIgnoredTensorsImportWasGiven()
    {
        using var work = new DamagedCheckpoint();
        // An extra tensor the model does not use (two bytes appended to the data section).
        var (header, data) = work.ReadSafetensors();
        header["extra.scale"] = new JsonObject { ["dtype"] = "BF16", ["shape"] = new JsonArray(1), ["data_offsets"] = new JsonArray(data.Length, data.Length + 2) };
        work.WriteSafetensors(header, data.Concat(new byte[] { 0x80, 0x3f }).ToArray());
        Assert.Equal(1, work.Import().ExitCode);
        var imported = work.Import("--ignore-hf-tensor", "extra.scale");
        Assert.True(imported.ExitCode == 0, imported.Error);
        var before = TreeSnapshot.Take(work.Root);

        var without = Run("verify", "--hf-model", work.Input, "--megatron-path", work.Output);
        Assert.Equal(1, without.ExitCode);
        Assert.Contains("extra.scale", without.Error);
        var with = Run("verify", "--hf-model", work.Input, "--megatron-path", work.Output, "--ignore-hf-tensor", "extra.scale");
        Assert.True(with.ExitCode == 0, with.Error);
        var typo = Run("verify", "--hf-model", work.Input, "--megatron-path", work.Output, "--ignore-hf-tensor", "extra.scael");
        Assert.Equal(1, typo.ExitCode);
        Assert.Contains("extra.scael", typo.Error);
        before.AssertUnchanged();
    }

    [Fact]
    public void UnderJsonAnInputErrorIsAJsonObjectNamingTheFile()
    {
        using var work = new DamagedCheckpoint();
        File.Delete(work.Config);
        var before = TreeSnapshot.Take(work.Root);
        foreach (var args in new[]
        {
            new[] { "import", "--hf-model", work.Input, "--megatron-path", work.Output, "--json" },
            new[] { "inspect", work.Input, "--json" },
            new[] { "verify", "--hf-model", work.Input, "--megatron-path", work.Output, "--json" },
        })
        {
            var r = Run(args);
            Assert.Equal(1, r.ExitCode);
            var error = JsonNode.Parse(r.Error)!["error"]!;
            Assert.Equal(args[0], (string?)error["command"]);
            Assert.Equal("input", (string?)error["kind"]);
            Assert.Equal(1, (int)error["exit_code"]!);
            Assert.Contains(work.Input, (string?)error["message"]);
        }
        before.AssertUnchanged();
    }

    [Fact]
    public void ADeletedTensorParallelRankIsNamedByExportAndVerify()
    {
        using var work = new DamagedCheckpoint();
        var imported = work.Import("--format", "torch", "--tp", "2");
        Assert.True(imported.ExitCode == 0, imported.Error);
        var rank1 = Directory.GetDirectories(work.Output, "mp_rank_01*", SearchOption.AllDirectories).Single();
        Directory.Delete(rank1, recursive: true);
        var before = TreeSnapshot.Take(work.Root);
        var hf = Path.Combine(work.Root, "hf");
        foreach (var args in new[]
        {
            new[] { "export", "--hf-model", work.Input, "--megatron-path", work.Output, "--hf-path", hf },
            new[] { "verify", "--hf-model", work.Input, "--megatron-path", work.Output },
        })
        {
            var r = Run(args);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("tensor-parallel rank folder(s) missing", r.Error);
            Assert.Contains("mp_rank_00", r.Error);
            Assert.Contains("at least 2 tensor-parallel ranks", r.Error);
        }
        Assert.Equal(new[] { "out" }, work.Leftovers());
        before.AssertUnchanged();
    }

    [Fact]
    public void AnImageForALanguageOnlyCheckpointIsAnInputError()
    {
        using var work = new DamagedCheckpoint("qwen35-vl-dense-tiny");
        Assert.Equal(0, work.Import("--language-only").ExitCode);
        var processor = Support.TestPaths.Fixture("qwen35-processor-tiny");
        var before = TreeSnapshot.Take(work.Root);
        var r = Run("generate", "--model", work.Output, "--hf-model", work.Input, "--processor", processor,
            "--input-ids", "1,2,3", "--image", Path.Combine(processor, "gradient_123x77.png"), "--max-new-tokens", "1");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no vision encoder", r.Error);
        Assert.Contains(work.Config, r.Error);
        Assert.DoesNotContain("internal error", r.Error);
        before.AssertUnchanged();
    }

    [Fact]
    public void AValidButHugePngIsNamedByItsSizeNotAsADamagedHeader()
    {
        using var tmp = Support.TestPaths.NewTempDir();
        // A valid 20000x20000 RGB PNG (all black, about 1 MB compressed): its header states the size.
        var png = tmp.Sub("huge.png");
        using (var file = File.Create(png))
        {
            file.Write(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
            var ihdr = new byte[13];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(ihdr, 20000);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), 20000);
            ihdr[8] = 8;
            ihdr[9] = 2;
            WriteChunk(file, "IHDR", ihdr);
            var raw = new MemoryStream();
            using (var z = new System.IO.Compression.ZLibStream(raw, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            {
                var row = new byte[1 + 20000 * 3];
                for (int y = 0; y < 20000; y++) z.Write(row);
            }
            WriteChunk(file, "IDAT", raw.ToArray());
            WriteChunk(file, "IEND", Array.Empty<byte>());
        }
        var before = TreeSnapshot.Take(tmp.Path);
        var fixture = Support.TestPaths.Fixture("qwen35-vl-dense-tiny");
        var r = Run("generate", "--model", fixture, "--processor", Support.TestPaths.Fixture("qwen35-processor-tiny"),
            "--input-ids", "1,2,3", "--image", png, "--max-new-tokens", "1");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{png}: image size 20000x20000", r.Error);
        Assert.DoesNotContain("header could not be read", r.Error);
        before.AssertUnchanged();
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        var head = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(head, (uint)data.Length);
        System.Text.Encoding.ASCII.GetBytes(type, head.AsSpan(4));
        s.Write(head);
        s.Write(data);
        var crc = new System.IO.Hashing.Crc32();
        crc.Append(head.AsSpan(4));
        crc.Append(data);
        var tail = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(tail, crc.GetCurrentHashAsUInt32());
        s.Write(tail);
    }
}
