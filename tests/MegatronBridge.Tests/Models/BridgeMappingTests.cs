using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Models;

/// <summary>The bridge tables against the fixtures: layout detection, the Megatron parameter set, and error reporting.</summary>
public class BridgeMappingTests
{
    private static (BridgeRegistration Bridge, ModelMapping Mapping, SafetensorsCheckpoint Hf) Load(string fixture)
    {
        var folder = TestPaths.Fixture(fixture);
        var hf = SafetensorsCheckpoint.Open(folder);
        var (bridge, mapping) = BridgeMappings.ForHfFolder(folder, hf);
        return (bridge, mapping, hf);
    }

    [Theory]
    [InlineData("qwen35-vl-moe-tiny", ExpertLayout.PerExpert, ExpertLayout.PerExpert)]
    [InlineData("qwen35-vl-moe-mixed-tiny", ExpertLayout.Packed, ExpertLayout.PerExpert)]
    [InlineData("qwen36-vl-moe-packed-tiny", ExpertLayout.Packed, ExpertLayout.Packed)]
    [InlineData("qwen35-text-moe-tiny", ExpertLayout.PerExpert, ExpertLayout.PerExpert)]
    [InlineData("qwen3-vl-moe-tiny", ExpertLayout.PackedTransposed, ExpertLayout.PerExpert)]
    public void ExpertLayoutsAreDetectedPerPrefix(string fixture, ExpertLayout decoder, ExpertLayout mtp)
    {
        var (bridge, _, hf) = Load(fixture);
        using (hf)
        {
            Assert.Equal(new ExpertLayouts(decoder, mtp), ExpertLayouts.Detect(hf.Tensors, bridge.HfLanguagePrefix + "layers.", 64, fixture));
        }
    }

    [Fact]
    public void MixedExpertLayoutsUnderOnePrefixAreRejected()
    {
        var tensors = new[]
        {
            new TensorMeta("model.layers.0.mlp.experts.0.gate_proj.weight", DType.BF16, new TensorShape(4, 8)),
            new TensorMeta("model.layers.1.mlp.experts.gate_up_proj", DType.BF16, new TensorShape(2, 16, 8)),
        };
        var ex = Assert.Throws<InvalidInputException>(() => ExpertLayoutDetector.Detect(tensors, "model.layers.", 8, "ckpt"));
        Assert.Contains("both per expert (model.layers.0.mlp.experts.0.gate_proj.weight) and packed (model.layers.1.mlp.experts.gate_up_proj)", ex.Message);
    }

    [Fact]
    public void SquarePackedExpertsAreAmbiguous()
    {
        var tensors = new[] { new TensorMeta("model.layers.0.mlp.experts.gate_up_proj", DType.BF16, new TensorShape(2, 8, 8)) };
        var ex = Assert.Throws<InvalidInputException>(() => ExpertLayoutDetector.Detect(tensors, "model.layers.", 8, "ckpt"));
        Assert.Contains("cannot be told apart", ex.Message);
    }

    [Fact]
    public void Qwen35DenseVlHasTheSpecModuleTree()
    {
        var (_, mapping, hf) = Load("qwen35-vl-dense-tiny");
        using (hf)
        {
            var shapes = mapping.Parameters.ToDictionary(p => p.Name, p => p.Shape);
            // GDN layer 0: nk 4 x dk 16 = 64, nv 8 x dv 16 = 128, H 64.
            Assert.Equal(new TensorShape(2 * 64 + 2 * 128 + 2 * 8, 64), shapes["language_model.decoder.layers.0.self_attention.in_proj.weight"]);
            Assert.Equal(new TensorShape(256, 1, 4), shapes["language_model.decoder.layers.0.self_attention.conv1d.weight"]);
            Assert.Equal(new TensorShape(16), shapes["language_model.decoder.layers.0.self_attention.out_norm.weight"]);
            // Attention layer 3, gated: (2 * 8 + 2 * 4) * 32 rows.
            Assert.Equal(new TensorShape(768, 64), shapes["language_model.decoder.layers.3.self_attention.linear_qkv.weight"]);
            Assert.False(shapes.ContainsKey("language_model.decoder.layers.3.self_attention.in_proj.weight"));
            Assert.Equal(new TensorShape(768, 64), shapes["language_model.mtp.layers.0.mtp_model_layer.self_attention.linear_qkv.weight"]);
            Assert.Equal(new TensorShape(64, 128), shapes["language_model.mtp.layers.0.eh_proj.weight"]);
            Assert.Equal(new TensorShape(96, 32), shapes["vision_model.decoder.layers.1.self_attention.linear_qkv.weight"]);
            Assert.Contains("language_model.output_layer.weight", shapes.Keys);
            Assert.Equal(DType.BF16, mapping.ParamDType);
            Assert.All(mapping.ParameterMetas(), m => Assert.Equal(DType.BF16, m.DType));
            Assert.DoesNotContain(shapes.Keys, n => n.Contains("deepstack", StringComparison.Ordinal));
            var kinds = mapping.Mappings.ToDictionary(m => m.Megatron.Name, m => m.KindName);
            Assert.Equal("GdnInProj", kinds["language_model.decoder.layers.0.self_attention.in_proj.weight"]);
            Assert.Equal("ZeroCenteredNorm", kinds["language_model.decoder.layers.0.self_attention.out_norm.weight"]);
            Assert.Equal("ConcatenatedQKV", kinds["vision_model.decoder.layers.0.self_attention.linear_qkv.weight"]);
        }
    }

    [Fact]
    public void TiedLanguageModelHasNoOutputLayerAndNoPrefix()
    {
        var (bridge, mapping, hf) = Load("qwen35-text-dense-tied-tiny");
        using (hf)
        {
            Assert.Equal("Qwen35Bridge", bridge.BridgeName);
            Assert.DoesNotContain(mapping.Parameters, p => p.Name.Contains("output_layer", StringComparison.Ordinal));
            Assert.Contains(mapping.Parameters, p => p.Name == "embedding.word_embeddings.weight");
            Assert.Contains(mapping.Parameters, p => p.Name == "decoder.layers.7.mlp.linear_fc1.weight");
        }
    }

    [Fact]
    public void Qwen3VlMoeHasDeepstackAndHubExperts()
    {
        var (_, mapping, hf) = Load("qwen3-vl-moe-tiny");
        using (hf)
        {
            var kinds = mapping.Mappings.ToDictionary(m => m.Megatron.Name, m => m);
            Assert.Equal("FusedGatedExpert", kinds["language_model.decoder.layers.0.mlp.experts.linear_fc1.weight3"].KindName);
            Assert.Equal("FusedExpert", kinds["language_model.decoder.layers.0.mlp.experts.linear_fc2.weight3"].KindName);
            Assert.Equal(new TensorShape(8, 64, 48), kinds["language_model.decoder.layers.0.mlp.experts.linear_fc1.weight3"].HfTensors.Single().Shape);
            Assert.Contains("vision_model.decoder.deepstack_merger_list.0.linear_fc1.weight", kinds.Keys);
            Assert.Equal(new TensorShape(512, 64), kinds["language_model.decoder.layers.0.self_attention.linear_qkv.weight"].Megatron.Shape);
        }
    }

    [Fact]
    public void ATableWithoutRowsForSomeParametersListsThemAll()
    {
        var (bridge, _, hf) = Load("qwen35-vl-moe-tiny");
        using (hf)
        {
            var provider = BridgeRegistry.CreateProvider(MegatronBridge.Config.HfConfig.LoadFromFolder(TestPaths.Fixture("qwen35-vl-moe-tiny"))).Provider;
            // The dense table cannot map a MoE model: every router, expert and shared expert is reported at once.
            var ex = Assert.Throws<InvalidInputException>(() => ModelMapping.Create(provider, MegatronBridge.Models.Qwen35.Qwen35Mappings.Qwen35VL(), bridge.MegatronLanguagePrefix, bridge.ModelTree));
            Assert.Contains("have no mapping in Qwen35VLBridge", ex.Message);
            Assert.Contains("language_model.decoder.layers.0.mlp.router.weight", ex.Message);
            Assert.Contains("language_model.decoder.layers.7.mlp.experts.linear_fc2.weight7", ex.Message);
            Assert.Contains("language_model.mtp.layers.0.mtp_model_layer.mlp.shared_experts.gate_weight", ex.Message);
        }
    }

    [Fact]
    public void ImportListsMissingMisshapenAndUnusedTensorsTogether()
    {
        var (_, mapping, hf) = Load("qwen35-vl-dense-tiny");
        using (hf)
        {
            var tensors = hf.Tensors
                .Where(t => t.Name != "model.language_model.layers.3.self_attn.k_proj.weight" && t.Name != "mtp.fc.weight")
                .Select(t => t.Name == "model.language_model.norm.weight" ? t with { Shape = new TensorShape(65) } : t)
                .Append(new TensorMeta("model.language_model.layers.0.extra.weight", DType.BF16, new TensorShape(4)))
                .ToList();
            var ex = Assert.Throws<InvalidInputException>(() => ImportPlan.Create(mapping, tensors, ParallelLayout.Single));
            Assert.Contains("2 tensor(s) needed by Qwen35VLBridge are missing: model.language_model.layers.3.self_attn.k_proj.weight, mtp.fc.weight", ex.Message);
            Assert.Contains("model.language_model.norm.weight has shape [65], the model needs [64]", ex.Message);
            Assert.Contains("1 tensor(s) are not used by Qwen35VLBridge (pass them as ignored to skip): model.language_model.layers.0.extra.weight", ex.Message);

            var ok = ImportPlan.Create(mapping, hf.Tensors.Append(new TensorMeta("extra", DType.BF16, new TensorShape(1))).ToList(), ParallelLayout.Single,
                new ImportOptions { IgnoredHfTensors = new[] { "extra" } });
            Assert.Equal(new[] { "extra" }, ok.IgnoredHfTensors);
        }
    }

    [Fact]
    public void ExportListsMissingAndUnmappedShards()
    {
        var (_, mapping, hf) = Load("qwen3-vl-dense-tiny");
        using (hf)
        {
            var layout = new ParallelLayout(tp: 2);
            var plan = ImportPlan.Create(mapping, hf.Tensors, layout);
            var shards = plan.Tensors.Select(t => t.Recipe.Output with { Name = t.ShardName })
                .Where(t => t.Name != "language_model.output_layer.weight#tp1")
                .Append(new TensorMeta("language_model.decoder.layers.0.self_attention.linear_qkv._extra_state", DType.U8, new TensorShape(0)))
                .ToList();
            var ex = Assert.Throws<InvalidInputException>(() => ExportPlan.Create(mapping, shards, layout));
            Assert.Contains("1 Megatron tensor(s) needed by Qwen3VLBridge are missing: language_model.output_layer.weight#tp1", ex.Message);
            Assert.Contains("1 tensor(s) are not mapped by Qwen3VLBridge: language_model.decoder.layers.0.self_attention.linear_qkv._extra_state", ex.Message);
        }
    }

    [Fact]
    public void TiedModelWithPipelineStagesKeepsAnOutputCopyOnTheLastStage()
    {
        var (_, mapping, hf) = Load("qwen35-text-dense-tied-tiny");
        using (hf)
        {
            var plan = ImportPlan.Create(mapping, hf.Tensors, new ParallelLayout(tp: 2, pp: 2));
            var copies = plan.Tensors.Where(t => t.IsDuplicate).ToList();
            Assert.All(copies, t => Assert.Equal(1, t.PpRank));
            Assert.Contains(copies, t => t.LocalName == "output_layer.weight" && t.ShardRank == 1);
            Assert.DoesNotContain(copies, t => t.LocalName == "embedding.word_embeddings.weight");
            var executor = new RecipeExecutor();
            var output = copies.First(t => t.LocalName == "output_layer.weight" && t.ShardRank == 1);
            var embedding = plan.Tensors.First(t => !t.IsDuplicate && t.LocalName == "embedding.word_embeddings.weight" && t.ShardRank == 1);
            Assert.Equal(0, embedding.PpRank);
            Assert.Equal(executor.ExecuteToMemory(embedding.Recipe, hf), executor.ExecuteToMemory(output.Recipe, hf));
        }
    }

    [Fact]
    public void MtpOnALaterStageGetsACopyOfTheEmbedding()
    {
        var (_, mapping, hf) = Load("qwen35-vl-dense-tiny");
        using (hf)
        {
            var copies = ImportPlan.Create(mapping, hf.Tensors, new ParallelLayout(pp: 2)).Tensors.Where(t => t.IsDuplicate).ToList();
            var copy = Assert.Single(copies);
            Assert.Equal(("language_model.embedding.word_embeddings.weight", 1), (copy.LocalName, copy.PpRank));
        }
    }

    [Fact]
    public void EveryLocalTensorOfARankIsListedOnce()
    {
        var (_, mapping, hf) = Load("qwen35-vl-moe-tiny");
        using (hf)
        {
            var plan = ImportPlan.Create(mapping, hf.Tensors, new ParallelLayout(tp: 2, pp: 2, ep: 4, etp: 1));
            var rank = plan.ForRank(pp: 1, tp: 1, ep: 3, etp: 0).ToList();
            Assert.Equal(rank.Count, rank.Select(t => t.LocalName).Distinct().Count());
            // Stage 1 holds global layers 4..7 as local 0..3; EP rank 3 holds experts 6, 7 as local 0, 1.
            Assert.Contains(rank, t => t.LocalName == "language_model.decoder.layers.3.mlp.experts.linear_fc1.weight1" && t.Param.Name == "language_model.decoder.layers.7.mlp.experts.linear_fc1.weight7");
            Assert.DoesNotContain(rank, t => t.LocalName.EndsWith("weight2", StringComparison.Ordinal));
            Assert.Contains(rank, t => t.LocalName == "language_model.mtp.layers.0.mtp_model_layer.self_attention.linear_qkv.weight");
            Assert.DoesNotContain(rank, t => t.LocalName.StartsWith("vision_model.", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void ExportAcceptsTheCheckpointNameOfTheMtpLayer()
    {
        var (_, mapping, hf) = Load("qwen35-vl-dense-tiny");
        using (hf)
        {
            var plan = ImportPlan.Create(mapping, hf.Tensors, ParallelLayout.Single);
            var executor = new RecipeExecutor();
            var onDisk = new MemoryTensorSource("dist checkpoint");
            foreach (var t in plan.Tensors)
                onDisk.Add(t.Recipe.Output with { Name = MegatronNaming.ToCheckpointName(t.ShardName) }, executor.ExecuteToMemory(t.Recipe, hf));
            Assert.Contains(onDisk.Tensors, t => t.Name == "language_model.mtp.layers.0.transformer_layer.self_attention.linear_qkv.weight");
            var export = ExportPlan.Create(mapping, onDisk.Tensors, ParallelLayout.Single);
            var q = export.Recipes.Single(r => r.Output.Name == "mtp.layers.0.self_attn.q_proj.weight");
            Assert.Equal(hf.ReadAll(q.Output.Name), executor.ExecuteToMemory(q, onDisk));
        }
    }

    [Fact]
    public void ALayoutThatCannotSplitTheModelReportsEveryParameter()
    {
        var (_, mapping, hf) = Load("qwen3-vl-dense-tiny");
        using (hf)
        {
            // 4 KV groups cannot be split over TP 8; nor can 4 vision heads.
            var ex = Assert.Throws<InvalidInputException>(() => ImportPlan.Create(mapping, hf.Tensors, new ParallelLayout(tp: 8)));
            Assert.Contains("parallel layout tp=8 pp=1 vpp=1 ep=1 etp=8 cannot split", ex.Message);
            Assert.Contains("language_model.decoder.layers.0.self_attention.linear_qkv.weight (QKV): 4 query groups cannot be split over tensor-parallel size 8", ex.Message);
            Assert.Contains("vision_model.decoder.layers.0.self_attention.linear_qkv.weight (ConcatenatedQKV): 4 vision heads", ex.Message);
            Assert.Contains("cannot split 8 parameter(s)", ex.Message); // 4 LM linear_qkv weights, 2 vision layers x (qkv weight, qkv bias)
        }
    }

    [Fact]
    public void TiedModelExportsTheOutputHeadOnlyIfTheOriginalHadIt()
    {
        var (_, mapping, hf) = Load("qwen35-text-dense-tied-tiny");
        using (hf)
        {
            var plan = ImportPlan.Create(mapping, hf.Tensors, ParallelLayout.Single);
            var executor = new RecipeExecutor();
            var shards = new MemoryTensorSource();
            foreach (var t in plan.Tensors) shards.Add(t.Recipe.Output with { Name = t.ShardName }, executor.ExecuteToMemory(t.Recipe, hf));
            var names = hf.Tensors.Select(t => t.Name).ToList();
            Assert.DoesNotContain(ExportPlan.Create(mapping, shards.Tensors, ParallelLayout.Single, new ExportOptions { OriginalHfTensors = names }).Recipes,
                r => r.Output.Name == "lm_head.weight");
            var withHead = ExportPlan.Create(mapping, shards.Tensors, ParallelLayout.Single,
                new ExportOptions { OriginalHfTensors = names.Append("lm_head.weight").ToList() });
            var head = withHead.Recipes.Single(r => r.Output.Name == "lm_head.weight");
            Assert.Equal("lm_head.weight", withHead.Recipes[^1].Output.Name);
            Assert.Equal(hf.ReadAll("model.embed_tokens.weight"), executor.ExecuteToMemory(head, shards));
        }
    }
}
