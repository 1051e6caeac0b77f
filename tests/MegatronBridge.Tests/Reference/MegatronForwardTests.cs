using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Jobs;
using MegatronBridge.Models;
using MegatronBridge.Reference;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MegatronBridge.Tests.Reference;

/// <summary>
/// The forward fed by Megatron's fused in-memory parameters (as the import produces them) against the forward fed by
/// the HF tensors: the Megatron loader interprets the fused layouts on its own, so a mapping bug shows as a difference.
/// </summary>
public class MegatronForwardTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-5;

    /// <summary>Megatron parameters of an HF fixture at TP=1, by executing the import recipes into memory.</summary>
    internal static MemoryTensorSource ImportToMemory(string folder)
    {
        using var hf = SafetensorsCheckpoint.Open(folder);
        var (_, mapping) = BridgeMappings.ForHfFolder(folder, hf);
        var plan = ImportPlan.Create(mapping, hf.Tensors, ParallelLayout.Single);
        var executor = new RecipeExecutor();
        var memory = new MemoryTensorSource("imported " + Path.GetFileName(folder));
        foreach (var t in plan.Tensors.Where(t => !t.IsDuplicate))
            memory.Add(t.Recipe.Output with { Name = t.Param.Name }, executor.ExecuteToMemory(t.Recipe, hf));
        return memory;
    }

    /// <summary>
    /// The HF fixture as the Megatron model really holds it: the import stores the GDN output norm as bf16(w - 1)
    /// (lossy for |w - 1| beyond bf16's reach, see docs/mappings.md; the fixtures' random norms hit it), so the HF side
    /// of the comparison takes bf16(bf16(w - 1) + 1), computed here independently of the conversion code.
    /// </summary>
    internal static ReferenceModel LoadHfAsImported(string folder)
    {
        using var hf = SafetensorsCheckpoint.Open(folder);
        var copy = new MemoryTensorSource("HF as imported");
        foreach (var t in hf.Tensors)
        {
            var bytes = hf.ReadAll(t.Name);
            if (t.Name.EndsWith("linear_attn.norm.weight", StringComparison.Ordinal))
            {
                Assert.Equal(DType.BF16, t.DType);
                for (int i = 0; i < bytes.Length; i += 2)
                {
                    float w = BitConverter.UInt32BitsToSingle((uint)BitConverter.ToUInt16(bytes, i) << 16);
                    float m = BitConverter.UInt32BitsToSingle((uint)RoundToBFloat16(w - 1f) << 16);
                    BitConverter.TryWriteBytes(bytes.AsSpan(i), RoundToBFloat16(m + 1f));
                }
            }
            copy.Add(t, bytes);
        }
        return ReferenceModel.FromSource(HfConfig.LoadFromFolder(folder), copy);
    }

    private static ushort RoundToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    private void AssertSameForward(string fixture, ReferenceModel hfModel, ReferenceModel megatronModel)
    {
        var cases = ReferenceOutputs.Load(Path.Combine(TestPaths.Fixture(fixture), ReferenceOutputs.FileName));
        foreach (var c in cases)
        {
            var expected = hfModel.Forward(c.InputIds, c.Image);
            var actual = megatronModel.Forward(c.InputIds, c.Image);
            var diff = Difference.Of(actual, expected);
            output.WriteLine($"{fixture} {c.Name}: Megatron vs HF layout max {diff.MaxAbs:E3} mean {diff.MeanAbs:E3}");
            Assert.True(diff.MaxAbs <= Tolerance, $"{fixture} {c.Name}: Megatron-layout logits differ from HF-layout logits by {diff.MaxAbs:E3} > {Tolerance}");
            Assert.Equal(Greedy.Generate(hfModel, c.InputIds, 8, c.Image), Greedy.Generate(megatronModel, c.InputIds, 8, c.Image));
        }
    }

    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void MegatronLayoutForwardEqualsHfLayoutForward(string fixture)
    {
        var folder = TestPaths.Fixture(fixture);
        using var hfModel = LoadHfAsImported(folder);
        using var megatron = ReferenceModel.FromMegatron(HfConfig.LoadFromFolder(folder), ImportToMemory(folder));
        AssertSameForward(fixture, hfModel, megatron);
    }

    [Theory]
    [InlineData("qwen35-vl-moe-tiny")]
    [InlineData("qwen35-text-dense-tied-tiny")]
    [InlineData("qwen3-vl-moe-tiny")]
    public void ImportedTorchDistCheckpointForwardEqualsHfForward(string fixture)
    {
        using var tmp = TestPaths.NewTempDir();
        var folder = TestPaths.Fixture(fixture);
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("megatron")));
        using var hfModel = LoadHfAsImported(folder);
        using var megatron = MegatronReferenceModel.Load(imported.MegatronPath, folder);
        AssertSameForward(fixture, hfModel, megatron);
    }

    /// <summary>
    /// Every rank's tensors of an import at TP=2 (and EP=2 for MoE), gathered under their shard names
    /// (<c>name#tp{r}</c>, global expert numbers) as an export of a parallel checkpoint sees them: the loader reads
    /// each rank's own fused layout (rank-major GDN in_proj and conv1d, [gate_r ; up_r], its query groups).
    /// </summary>
    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void TensorParallelShardsGiveTheHfForward(string fixture)
    {
        var folder = TestPaths.Fixture(fixture);
        var layout = new ParallelLayout(tp: 2, ep: fixture.Contains("moe", StringComparison.Ordinal) ? 2 : 1);
        var gathered = new MemoryTensorSource($"{fixture} at {layout}");
        using (var hf = SafetensorsCheckpoint.Open(folder))
        {
            var (_, mapping) = BridgeMappings.ForHfFolder(folder, hf);
            var executor = new RecipeExecutor();
            foreach (var t in ImportPlan.Create(mapping, hf.Tensors, layout).Tensors.Where(t => !t.IsDuplicate))
                gathered.Add(t.Recipe.Output with { Name = t.ShardName }, executor.ExecuteToMemory(t.Recipe, hf));
        }
        Assert.Contains(gathered.Tensors, t => t.Name.EndsWith("#tp1", StringComparison.Ordinal));
        using var hfModel = LoadHfAsImported(folder);
        using var megatron = ReferenceModel.FromMegatron(HfConfig.LoadFromFolder(folder), gathered);
        AssertSameForward(fixture, hfModel, megatron);
    }

    [Fact]
    public void ReplicatedShardsThatDisagreeAreRefused()
    {
        var folder = TestPaths.Fixture("qwen3-vl-dense-tiny");
        var gathered = new MemoryTensorSource("disagreeing ranks");
        string norm = "language_model.decoder.final_layernorm.weight#tp1";
        using (var hf = SafetensorsCheckpoint.Open(folder))
        {
            var (_, mapping) = BridgeMappings.ForHfFolder(folder, hf);
            var executor = new RecipeExecutor();
            foreach (var t in ImportPlan.Create(mapping, hf.Tensors, new ParallelLayout(tp: 2)).Tensors.Where(t => !t.IsDuplicate))
            {
                var bytes = executor.ExecuteToMemory(t.Recipe, hf);
                if (t.ShardName == norm) bytes[0] ^= 0x40;
                gathered.Add(t.Recipe.Output with { Name = t.ShardName }, bytes);
            }
        }
        var e = Assert.Throws<InvalidInputException>(() => ReferenceModel.FromMegatron(HfConfig.LoadFromFolder(folder), gathered));
        Assert.Contains("replicated parameter 'language_model.decoder.final_layernorm.weight' differs between tensor-parallel ranks 0 and 1", e.Message);
    }

    /// <summary>SequentialMLP names (experts.local_experts.{e}.linear_fc1.weight) give the same forward as TEGroupedMLP's weight{e}.</summary>
    [Fact]
    public void SequentialExpertNamesGiveTheSameForward()
    {
        var folder = TestPaths.Fixture("qwen35-text-moe-tiny");
        var grouped = ImportToMemory(folder);
        var sequential = new MemoryTensorSource("sequential experts");
        var pattern = new System.Text.RegularExpressions.Regex(@"\.experts\.(linear_fc[12])\.weight(\d+)$");
        int renamed = 0;
        foreach (var t in grouped.Tensors)
        {
            var m = pattern.Match(t.Name);
            string name = m.Success ? t.Name[..m.Index] + $".experts.local_experts.{m.Groups[2].Value}.{m.Groups[1].Value}.weight" : t.Name;
            if (m.Success) renamed++;
            sequential.Add(t with { Name = name }, grouped.Data(t.Name));
        }
        Assert.True(renamed > 0);
        var config = HfConfig.LoadFromFolder(folder);
        using var a = ReferenceModel.FromMegatron(config, grouped);
        using var b = ReferenceModel.FromMegatron(config, sequential);
        var ids = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName))[0].InputIds;
        Assert.Equal(a.Forward(ids), b.Forward(ids));
    }

    /// <summary>A legacy per-rank checkpoint saved at TP=2 PP=2 EP=2 (TP=2 PP=2 for dense), read back as gathered shards.</summary>
    [Theory]
    [InlineData("qwen35-vl-moe-tiny")]
    [InlineData("qwen35-vl-dense-tiny")]
    [InlineData("qwen3-vl-moe-tiny")]
    public void LegacyParallelCheckpointForwardEqualsHfForward(string fixture)
    {
        using var tmp = TestPaths.NewTempDir();
        var folder = TestPaths.Fixture(fixture);
        var layout = new ParallelLayout(tp: 2, pp: 2, ep: fixture.Contains("moe", StringComparison.Ordinal) ? 2 : 1);
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("legacy")) { Format = MegatronFormat.Torch, Layout = layout });
        Assert.True(Directory.Exists(Path.Combine(imported.IterationFolder, "mp_rank_01_001")) || Directory.Exists(Path.Combine(imported.IterationFolder, "mp_rank_01_001_001")));
        using var hfModel = LoadHfAsImported(folder);
        using var megatron = MegatronReferenceModel.Load(imported.MegatronPath, folder);
        AssertSameForward(fixture, hfModel, megatron);
    }

    /// <summary>A language-model-only import of a VL model (torch_dist and legacy TP=2): the text forward equals the VL model's.</summary>
    [Theory]
    [InlineData("qwen35-vl-moe-tiny", MegatronFormat.TorchDist)]
    [InlineData("qwen35-vl-dense-tiny", MegatronFormat.Torch)]
    public void LanguageOnlyImportForwardEqualsTheVlTextForward(string fixture, MegatronFormat format)
    {
        using var tmp = TestPaths.NewTempDir();
        var folder = TestPaths.Fixture(fixture);
        var imported = CheckpointConverter.Import(new ImportRequest(folder, tmp.Sub("lm"))
        {
            LanguageOnly = true, Format = format, Layout = format == MegatronFormat.Torch ? new ParallelLayout(tp: 2) : ParallelLayout.Single,
        });
        using var hfModel = LoadHfAsImported(folder);
        using var megatron = MegatronReferenceModel.Load(imported.MegatronPath, folder);
        Assert.Null(megatron.Weights.Vision);
        var text = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)).Single(c => c.Name == "text");
        var diff = Difference.Of(megatron.Forward(text.InputIds), hfModel.Forward(text.InputIds));
        Assert.True(diff.MaxAbs <= Tolerance, $"{fixture} language-only: {diff.MaxAbs:E3}");
    }

    /// <summary>The comparison can fail: swapping two query groups of one linear_qkv changes the logits well past the tolerance.</summary>
    [Fact]
    public void SwappedQueryGroupsAreCaught()
    {
        const string fixture = "qwen35-vl-dense-tiny";
        var folder = TestPaths.Fixture(fixture);
        var memory = ImportToMemory(folder);
        string name = "language_model.decoder.layers.3.self_attention.linear_qkv.weight";
        var meta = memory.Get(name);
        var bytes = memory.Data(name);
        int groupBytes = bytes.Length / 4; // 4 query groups in the fixture
        var swapped = (byte[])bytes.Clone();
        bytes.AsSpan(0, groupBytes).CopyTo(swapped.AsSpan(groupBytes));
        bytes.AsSpan(groupBytes, groupBytes).CopyTo(swapped.AsSpan(0));
        var broken = new MemoryTensorSource("broken");
        foreach (var t in memory.Tensors) broken.Add(t, t.Name == name ? swapped : memory.Data(t.Name));
        Assert.Equal(meta, broken.Get(name));

        using var hfModel = ReferenceModel.LoadHf(folder);
        using var megatron = ReferenceModel.FromMegatron(HfConfig.LoadFromFolder(folder), broken);
        var ids = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName))[0].InputIds;
        var diff = Difference.Of(megatron.Forward(ids), hfModel.Forward(ids));
        Assert.True(diff.MaxAbs > 1e-3, $"swapped groups gave only {diff.MaxAbs:E3}");
    }

    [Fact]
    public void MissingParameterIsNamed()
    {
        var folder = TestPaths.Fixture("qwen35-vl-dense-tiny");
        var memory = ImportToMemory(folder);
        var partial = new MemoryTensorSource("partial checkpoint");
        string missing = "language_model.decoder.layers.0.self_attention.in_proj.weight";
        foreach (var t in memory.Tensors.Where(t => t.Name != missing)) partial.Add(t, memory.Data(t.Name));
        var e = Assert.Throws<InvalidInputException>(() => ReferenceModel.FromMegatron(HfConfig.LoadFromFolder(folder), partial));
        Assert.Contains("partial checkpoint", e.Message);
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void WrongFusedShapeIsNamed()
    {
        var folder = TestPaths.Fixture("qwen3-vl-dense-tiny");
        var memory = ImportToMemory(folder);
        string name = "language_model.decoder.layers.1.self_attention.linear_qkv.weight";
        var bad = new MemoryTensorSource("bad checkpoint");
        foreach (var t in memory.Tensors)
        {
            if (t.Name != name) { bad.Add(t, memory.Data(t.Name)); continue; }
            long rows = t.Shape[0] - 32, cols = t.Shape[1];
            bad.Add(name, t.DType, new TensorShape(rows, cols), memory.Data(name).AsSpan(0, (int)(rows * cols * t.DType.Size())).ToArray());
        }
        var e = Assert.Throws<InvalidInputException>(() => ReferenceModel.FromMegatron(HfConfig.LoadFromFolder(folder), bad));
        Assert.Contains(name, e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void HfNamesAreNotMegatronParameters()
    {
        var folder = TestPaths.Fixture("qwen35-text-moe-tiny");
        using var hf = SafetensorsCheckpoint.Open(folder);
        var e = Assert.Throws<InvalidInputException>(() => ReferenceModel.FromMegatron(HfConfig.LoadFromFolder(folder), hf));
        Assert.Contains("embedding.word_embeddings.weight", e.Message);
    }
}
