using MegatronBridge.Config;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Jobs;
using MegatronBridge.Reference;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Reference;

/// <summary>
/// HF and Megatron forwards run side by side, one sub-block at a time: on a faithful import the hidden states agree
/// after every step; a tensor damaged in one layer of the Megatron parameters is reported at that layer and sub-block.
/// </summary>
public class SideBySideTests
{
    private const double Tolerance = 1e-5;

    private static ReferenceCase FirstCase(string folder, bool withImage)
    {
        var cases = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName));
        return cases.FirstOrDefault(c => (c.Image is not null) == withImage) ?? cases[0];
    }

    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void HfAndMegatronAgreeAfterEverySubBlock_AndGiveTheForwardsLogits(string fixture)
    {
        var folder = TestPaths.Fixture(fixture);
        using var hf = MegatronForwardTests.LoadHfAsImported(folder);
        using var megatron = ReferenceModel.FromMegatron(HfConfig.LoadFromFolder(folder), MegatronForwardTests.ImportToMemory(folder));
        var c = FirstCase(folder, withImage: hf.Config.Vision is not null);

        var side = SideBySide.Run(hf, megatron, c.InputIds, c.Image);

        Assert.Null(side.FirstDivergence(Tolerance));
        var where = side.Steps.Select(s => s.Where).ToList();
        int layers = hf.Config.Layers;
        // embedding, two sub-blocks per layer, logits; and the vision tower's steps before them with an image.
        Assert.Equal(2 + 2 * layers, where.Count(w => !w.StartsWith("vision", StringComparison.Ordinal) && !w.StartsWith("deepstack", StringComparison.Ordinal)));
        Assert.Equal("logits", where[^1]);
        Assert.Contains($"decoder layer {layers - 1}, " + (hf.Config.LinearAttentionLayers[layers - 1] ? "GDN mixer" : "attention"), where);
        Assert.Contains($"decoder layer 0, " + (hf.Weights.Layers[0].Moe is null ? "MLP" : "experts"), where);
        if (c.Image is not null)
        {
            Assert.Equal("vision patch embedding", where[0]);
            Assert.Contains($"vision block {hf.Config.Vision!.Depth - 1}", where);
            Assert.Contains("vision merger", where);
            Assert.Equal(hf.EncodeImages(c.Image).ImageEmbeds, side.ImageEmbedsA);
        }
        Assert.Equal(hf.Forward(c.InputIds, c.Image), side.LogitsA);
        Assert.Equal(megatron.Forward(c.InputIds, c.Image), side.LogitsB);
    }

    [Theory]
    [InlineData("qwen3-vl-moe-tiny", "language_model.decoder.layers.2.self_attention.linear_proj.weight", "decoder layer 2, attention")]
    [InlineData("qwen3-vl-moe-tiny", "language_model.decoder.layers.1.mlp.experts.linear_fc2.weight", "decoder layer 1, experts")]
    [InlineData("qwen3-vl-moe-tiny", "vision_model.decoder.layers.1.mlp.linear_fc2.weight", "vision block 1")]
    [InlineData("qwen35-vl-dense-tiny", "language_model.decoder.layers.1.self_attention.out_proj.weight", "decoder layer 1, GDN mixer")]
    [InlineData("qwen35-vl-dense-tiny", "language_model.decoder.layers.3.mlp.linear_fc2.weight", "decoder layer 3, MLP")]
    [InlineData("qwen35-vl-moe-tiny", "language_model.decoder.layers.2.mlp.shared_experts.linear_fc1.weight", "decoder layer 2, experts")]
    public void ACorruptedTensorIsReportedAtItsLayerAndSubBlock(string fixture, string damagedPrefix, string expected)
    {
        var folder = TestPaths.Fixture(fixture);
        var memory = MegatronForwardTests.ImportToMemory(folder);
        var damaged = new MemoryTensorSource("damaged");
        int hit = 0;
        foreach (var t in memory.Tensors)
        {
            var bytes = memory.Data(t.Name);
            if (t.Name.StartsWith(damagedPrefix, StringComparison.Ordinal))
            {
                bytes = DoubleEveryValue(t, bytes);
                hit++;
            }
            damaged.Add(t, bytes);
        }
        Assert.True(hit > 0, $"no tensor named {damagedPrefix}*");

        using var hf = MegatronForwardTests.LoadHfAsImported(folder);
        using var megatron = ReferenceModel.FromMegatron(HfConfig.LoadFromFolder(folder), damaged);
        var c = FirstCase(folder, withImage: expected.StartsWith("vision", StringComparison.Ordinal));
        var side = SideBySide.Run(hf, megatron, c.InputIds, c.Image);

        var first = side.FirstDivergence(Tolerance);
        Assert.NotNull(first);
        Assert.Equal(expected, first.Where);
        Assert.True(first.Difference.MaxAbs > 1e-3, $"{expected}: only {first.Difference.MaxAbs:E3}");
        Assert.True(first.Difference.MeanAbs > 0 && first.Difference.MeanAbs <= first.Difference.MaxAbs);
    }

    /// <summary>Adds one to every value's exponent (the value doubles), whatever the floating dtype.</summary>
    private static byte[] DoubleEveryValue(TensorMeta t, byte[] bytes)
    {
        var copy = (byte[])bytes.Clone();
        switch (t.DType)
        {
            case DType.BF16:
                for (int i = 0; i < copy.Length; i += 2) BitConverter.TryWriteBytes(copy.AsSpan(i), (ushort)(BitConverter.ToUInt16(copy, i) + 0x80));
                break;
            case DType.F32:
                for (int i = 0; i < copy.Length; i += 4) BitConverter.TryWriteBytes(copy.AsSpan(i), BitConverter.ToUInt32(copy, i) + 0x800000u);
                break;
            default:
                throw new InvalidOperationException($"{t.Name}: {t.DType} not handled by the test");
        }
        return copy;
    }

    [Fact]
    public void CompareNamesTheFirstDivergentSubBlock_OfADamagedTorchDistCheckpoint()
    {
        var folder = TestPaths.Fixture("qwen3-vl-dense-tiny");
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));

        var clean = CliRunner.Run("compare", "--hf-model", folder, "--megatron-path", imported.MegatronPath);
        Assert.True(clean.ExitCode == 0, clean.Output + clean.Error);
        Assert.Contains("hidden states agree", clean.Output);

        FlipStoredBytes(imported.MegatronPath, "language_model.decoder.layers.mlp.linear_fc2.weight", layer: 2);
        var run = CliRunner.Run("compare", "--hf-model", folder, "--megatron-path", imported.MegatronPath, "--tolerance", "10");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("first divergence", run.Output);
        Assert.Contains("decoder layer 2, MLP (max |Δ|", run.Output);
        Assert.DoesNotContain("decoder layer 1,", run.Output);
    }

    [Fact]
    public void CompareTakesAPromptAndAnImage_ThroughTheTokenizerAndImageProcessor()
    {
        var folder = TestPaths.Fixture("qwen3-vl-moe-tiny");
        var processor = TestPaths.Fixture("qwen35-processor-tiny");
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));

        var run = CliRunner.Run("compare", "--hf-model", folder, "--megatron-path", imported.MegatronPath, "--processor", processor,
            "--prompt", "Describe this image.", "--image", Path.Combine(processor, "tall_40x260.png"));

        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        Assert.DoesNotContain("vs reference", run.Output);
        // Vision: patch embedding, 2 blocks, 1 deepstack merger, merger; decoder: embedding, 4 x 2 sub-blocks, logits.
        Assert.Contains("HF vs Megatron, case prompt, layer by layer: hidden states agree after all 15 sub-blocks", run.Output);

        var noMegatron = CliRunner.Run("compare", "--hf-model", folder, "--processor", processor, "--prompt", "Describe this image.");
        Assert.Equal(2, noMegatron.ExitCode);
        Assert.Contains("--megatron-path", noMegatron.Error);
    }

    /// <summary>
    /// Flips a bit in every stored value of one layer of a torch_dist tensor (megatron-core stacks a module's layers
    /// along a leading axis: the chunk at offset [layer, 0, ...], inside its torch.save record).
    /// </summary>
    private static void FlipStoredBytes(string megatronPath, string key, int layer)
    {
        string iteration = MegatronCheckpointFolder.Resolve(megatronPath).Folder;
        string path;
        long dataOffset, length;
        using (var checkpoint = TorchDistCheckpoint.Open(iteration))
        {
            var item = checkpoint.Metadata.StorageData.Single(s => s.Key.Fqn == key && s.Key.Offset is { } o && o[0] == layer && o.Skip(1).All(x => x == 0));
            path = Path.Combine(iteration, item.Info.RelativePath);
            using var handle = File.OpenHandle(path);
            var archive = TorchZipArchive.Open(handle, path, item.Info.Offset, item.Info.Length);
            var record = archive.Records.Single(r => r.Name.StartsWith("data/", StringComparison.Ordinal));
            (dataOffset, length) = (record.DataOffset, record.Length);
        }
        var bytes = File.ReadAllBytes(path);
        // bf16: the low bit of each value's exponent, in its high byte.
        for (long i = 1; i < length; i += 2) bytes[dataOffset + i] ^= 0x01;
        File.WriteAllBytes(path, bytes);
    }
}
