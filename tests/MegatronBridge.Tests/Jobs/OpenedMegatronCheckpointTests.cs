using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Cli;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>
/// The one way export, verify, compare / generate and inspect open a Megatron checkpoint: each fact it decides
/// (format, language-only, MTP absent, padded vocabulary, not a checkpoint) on a checkpoint imported from a fixture.
/// </summary>
public class OpenedMegatronCheckpointTests
{
    private const string VlFixture = "qwen35-vl-dense-tiny";     // declares 1 MTP layer, vocab_size 1024
    private const string TextFixture = "qwen35-text-dense-tied-tiny"; // vocab_size 1024

    private static ImportResult Import(TempDir tmp, string fixture, MegatronFormat format, Func<ImportRequest, ImportRequest>? with = null)
    {
        var request = new ImportRequest(TestPaths.Fixture(fixture), tmp.Sub("m"))
        {
            Format = format,
            Layout = format == MegatronFormat.Torch ? new ParallelLayout(tp: 2) : ParallelLayout.Single,
        };
        return CheckpointConverter.Import(with == null ? request : with(request));
    }

    private static OpenedMegatronCheckpoint Open(string megatronPath, string fixture, bool? languageOnly = null) =>
        OpenedMegatronCheckpoint.Open(megatronPath, HfConfig.LoadFromFolder(TestPaths.Fixture(fixture)), TestPaths.Fixture(fixture), languageOnly);

    private static IReadOnlyList<TensorMeta> HfTensors(string fixture)
    {
        using var hf = SafetensorsCheckpoint.Open(TestPaths.Fixture(fixture));
        return hf.Tensors.ToList();
    }

    [Theory]
    [InlineData(MegatronFormat.TorchDist)]
    [InlineData(MegatronFormat.Torch)]
    public void TellsTorchDistFromLegacyAndOpensItsParametersInTheSavedLayout(MegatronFormat format)
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = Import(tmp, VlFixture, format);

        using var opened = Open(imported.MegatronPath, VlFixture);
        opened.Map(HfTensors(VlFixture));
        var parameters = opened.Parameters();

        Assert.Equal(imported.IterationFolder, opened.Checkpoint.Folder);
        Assert.Equal(format, opened.Checkpoint.Format);
        Assert.Equal(format == MegatronFormat.Torch, parameters.Legacy != null);
        Assert.Equal(format == MegatronFormat.Torch ? 2 : 1, parameters.Layout.Tp);
        Assert.Same(parameters, opened.Parameters());
        Assert.Equal(format == MegatronFormat.TorchDist, opened.Checkpoint.TorchDist != null);
    }

    [Theory]
    [InlineData(MegatronFormat.TorchDist)]
    [InlineData(MegatronFormat.Torch)]
    public void DetectsALanguageOnlyImportAndBuildsTheLanguageModelProvider(MegatronFormat format)
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = Import(tmp, VlFixture, format, r => r with { LanguageOnly = true });

        using (var detected = Open(imported.MegatronPath, VlFixture))
        {
            Assert.True(detected.LanguageOnly);
            Assert.False(detected.Provider.HasVision);
            Assert.Equal(imported.Bridge, detected.Bridge.BridgeName);
            // The HF checkpoint is seen as its language model: no vision tower, model.language_model.X read as model.X.
            using var hf = SafetensorsCheckpoint.Open(TestPaths.Fixture(VlFixture));
            var names = detected.LanguageModelView(hf).Tensors.Select(t => t.Name).ToList();
            Assert.DoesNotContain(names, n => n.StartsWith("model.visual.", StringComparison.Ordinal) || n.StartsWith("model.language_model.", StringComparison.Ordinal));
            Assert.Contains("model.embed_tokens.weight", names);
        }
        using (var forcedOff = Open(imported.MegatronPath, VlFixture, languageOnly: false))
        {
            Assert.False(forcedOff.LanguageOnly);
            Assert.True(forcedOff.Provider.HasVision);
        }
        using var tmp2 = TestPaths.NewTempDir();
        var vl = Import(tmp2, VlFixture, format);
        using var full = Open(vl.MegatronPath, VlFixture);
        Assert.False(full.LanguageOnly);
        Assert.True(full.Provider.HasVision);
    }

    [Theory]
    [InlineData(MegatronFormat.TorchDist)]
    [InlineData(MegatronFormat.Torch)]
    public void ACheckpointWithoutMtpGivesTheProviderWithoutMtpAndNamesTheHfTensorsLeftOut(MegatronFormat format)
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = Import(tmp, VlFixture, format, r => r with { NoMtp = true });
        var hfTensors = HfTensors(VlFixture);
        var fixtureMtp = hfTensors.Select(t => t.Name).Where(n => n.StartsWith("mtp.", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(fixtureMtp);

        using var opened = Open(imported.MegatronPath, VlFixture);

        Assert.False(opened.Checkpoint.HasMtp());
        Assert.Empty(opened.Checkpoint.MtpLayerNames());
        Assert.True(opened.MtpAbsent);
        Assert.Equal(1, opened.DeclaredProvider.MtpNumLayers);
        Assert.Null(opened.Provider.MtpNumLayers);
        var leftOut = opened.MtpLeftOut(hfTensors);
        Assert.NotNull(leftOut);
        Assert.Equal(1, leftOut.ConfigLayers);
        Assert.Equal("the Megatron checkpoint has no MTP tensors", leftOut.Reason);
        Assert.Equal(fixtureMtp, leftOut.HfTensors.Order(StringComparer.Ordinal).ToList());
        // The mapping of the provider without MTP reads none of them.
        Assert.DoesNotContain(opened.Map(hfTensors).HfTensors, t => t.Name.StartsWith("mtp.", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(MegatronFormat.TorchDist, "transformer_layer")]
    [InlineData(MegatronFormat.Torch, "mtp_model_layer")]
    public void ACheckpointWithMtpKeepsItAndTellsItsInnerLayerName(MegatronFormat format, string layerName)
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = Import(tmp, VlFixture, format);

        using var opened = Open(imported.MegatronPath, VlFixture);

        Assert.False(opened.MtpAbsent);
        Assert.Null(opened.MtpLeftOut(HfTensors(VlFixture)));
        Assert.Equal(1, opened.Provider.MtpNumLayers);
        Assert.Equal(new[] { layerName }, opened.Checkpoint.MtpLayerNames());
    }

    [Theory]
    [InlineData(MegatronFormat.TorchDist)]
    [InlineData(MegatronFormat.Torch)]
    public void PaddedVocabularyRowsGiveThePaddedProvider(MegatronFormat format)
    {
        using var tmp = TestPaths.NewTempDir();
        // 1024 rows padded to a multiple of 96 x TP 2 = 192: 6 x 192 = 1152.
        var imported = Import(tmp, TextFixture, format, r => r with { MakeVocabSizeDivisibleBy = 96, Layout = new ParallelLayout(tp: 2) });

        using var opened = Open(imported.MegatronPath, TextFixture);

        Assert.Equal(1152, opened.Checkpoint.StoredVocabRows());
        Assert.Equal(1024, opened.DeclaredProvider.VocabSize);
        Assert.Equal(1024, opened.HfVocabRows);
        Assert.Equal(1152, opened.Provider.VocabSize);
        Assert.True(opened.VocabPadded);
        using var hf = SafetensorsCheckpoint.Open(TestPaths.Fixture(TextFixture));
        opened.Map(hf.Tensors);
        // Verify's view of the HF side: the embedding seen with the padding rows; the reference forward's view of the
        // Megatron side: cut back to the HF rows.
        Assert.Equal(1152, opened.PaddedHfVocab(hf).Get("model.embed_tokens.weight").Shape[0]);
        Assert.Equal(1024, hf.Get("model.embed_tokens.weight").Shape[0]);
        if (format == MegatronFormat.TorchDist)
        {
            Assert.Equal(1152, opened.Parameters().Source.Get("embedding.word_embeddings.weight").Shape[0]);
            Assert.Equal(1024, opened.ParametersAtHfVocab().Get("embedding.word_embeddings.weight").Shape[0]);
        }
    }

    [Fact]
    public void AnUnpaddedVocabularyKeepsTheHfRows()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = Import(tmp, TextFixture, MegatronFormat.TorchDist);

        using var opened = Open(imported.MegatronPath, TextFixture);

        Assert.Equal(1024, opened.Provider.VocabSize);
        Assert.False(opened.VocabPadded);
        using var hf = SafetensorsCheckpoint.Open(TestPaths.Fixture(TextFixture));
        opened.Map(hf.Tensors);
        Assert.Same(hf, opened.PaddedHfVocab(hf));
    }

    [Fact]
    public void AFolderThatIsNeitherFormatIsRefusedWithOneMessageNamingIt()
    {
        using var tmp = TestPaths.NewTempDir();
        var folder = tmp.Sub("iter_0000007");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "not a checkpoint");
        var expected = $"{folder}: not a Megatron checkpoint (looked for a torch_dist .metadata file and legacy mp_rank_* folders, found neither)";

        Assert.Equal(expected, Assert.Throws<InvalidInputException>(() => MegatronCheckpoint.Locate(folder)).Message);
        Assert.Equal(expected, Assert.Throws<InvalidInputException>(() => Open(tmp.Path, VlFixture)).Message);

        // Every command that reads a Megatron checkpoint gives the same message.
        var hf = TestPaths.Fixture(VlFixture);
        var output = tmp.Sub("hf-out");
        var runs = new[]
        {
            CliRunner.Run("export", "--hf-model", hf, "--megatron-path", folder, "--hf-path", output),
            CliRunner.Run("verify", "--hf-model", hf, "--megatron-path", folder),
            CliRunner.Run("inspect", "--megatron-path", folder),
            CliRunner.Run("compare", "--hf-model", hf, "--megatron-path", folder, "--input-ids", "5,17"),
        };
        foreach (var (code, _, error) in runs)
        {
            Assert.NotEqual(0, code);
            Assert.Contains(expected, error);
        }
        Assert.False(Directory.Exists(output));
        Assert.Equal(new[] { "notes.txt" }, Directory.GetFileSystemEntries(folder).Select(Path.GetFileName));
    }

    [Fact]
    public void TorchDistMetadataIsReadOnceWhenOpened()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = Import(tmp, VlFixture, MegatronFormat.TorchDist);
        var metadata = Path.Combine(imported.IterationFolder, TorchDistWriter.MetadataFileName);

        using var opened = Open(imported.MegatronPath, VlFixture);
        // With the metadata file gone, every later answer and the parameters must come from the one read at open.
        File.Move(metadata, metadata + ".moved");
        Assert.True(opened.Checkpoint.HasVisionLanguageNames());
        Assert.True(opened.Checkpoint.HasMtp());
        Assert.Equal(1024, opened.Checkpoint.StoredVocabRows());
        using var hf = SafetensorsCheckpoint.Open(TestPaths.Fixture(VlFixture));
        opened.Map(hf.Tensors);
        var stored = opened.Parameters().Source;
        const string embedding = "language_model.embedding.word_embeddings.weight";
        var bytes = new byte[stored.Get(embedding).ByteLength];
        stored.Read(embedding, 0, bytes);
        var expected = new byte[hf.Get("model.language_model.embed_tokens.weight").ByteLength];
        hf.Read("model.language_model.embed_tokens.weight", 0, expected);
        Assert.Equal(expected, bytes);
    }
}
