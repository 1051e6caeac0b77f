using MegatronBridge.Jobs;
using MegatronBridge.Models;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Api;

/// <summary>
/// The README's "Using the library from C#" example, call for call, on a tiny fixture: the public API it shows must
/// keep compiling and working. Also pins that the library's plumbing stays internal.
/// </summary>
public class PublicApiExampleTests
{
    [Fact]
    public void ReadmeExample_InspectsImportsVerifiesAndExports()
    {
        using var dir = TestPaths.NewTempDir();
        string hf = TestPaths.Fixture("qwen35-vl-dense-tiny");
        string megatron = Path.Combine(dir.Path, "megatron");
        string back = Path.Combine(dir.Path, "hf-back");

        var model = ModelInspection.Inspect(hf);
        Assert.Equal("Qwen3_5ForConditionalGeneration", model.Architecture);
        Assert.Equal("Qwen35VLBridge", model.BridgeName);
        Assert.True(model.Parameters.Total > 0);

        var imported = CheckpointConverter.Import(new ImportRequest(hf, megatron) { Format = MegatronFormat.TorchDist });
        var saved = MegatronCheckpointInspection.Inspect(imported.MegatronPath);
        var verified = CheckpointVerifier.Verify(hf, imported.MegatronPath);
        var exported = CheckpointConverter.Export(new ExportRequest(hf, imported.MegatronPath, back));

        Assert.Equal(MegatronFormat.TorchDist, saved.Format);
        // The saved checkpoint holds every parameter written plus extra state entries.
        Assert.True(saved.Tensors >= imported.Tensors, $"{saved.Tensors} stored tensors, {imported.Tensors} imported");
        Assert.Equal(imported.Tensors, verified.Tensors.Count);
        Assert.True(verified.Matches, string.Join(", ", verified.Differences.Select(d => d.Name)));
        Assert.Equal(model.TensorCount, exported.Tensors);
        Assert.True(File.Exists(Path.Combine(back, "model.safetensors")) || File.Exists(Path.Combine(back, "model.safetensors.index.json")));
    }

    [Fact]
    public void PlumbingTypes_AreInternal()
    {
        var library = typeof(CheckpointConverter).Assembly;
        foreach (var name in new[]
                 {
                     "MegatronBridge.Formats.TorchDist.DcpMetadata", "MegatronBridge.Formats.Safetensors.SafetensorsFile",
                     "MegatronBridge.Reference.ReferenceModel", "MegatronBridge.Preprocessing.AntialiasResampler",
                     "MegatronBridge.Jobs.StagedOutput",
                     "MegatronBridge.Tensors.RecipeExecutor", "MegatronBridge.Tensors.ITensorSource", "MegatronBridge.Tensors.TensorRecipe",
                     "MegatronBridge.Tensors.StridedView", "MegatronBridge.Models.BridgeRegistration", "MegatronBridge.Conversion.MappingKind",
                     "MegatronBridge.Conversion.MappingTable",
                 })
        {
            var type = library.GetType(name);
            Assert.True(type is not null, $"{name} not found in {library.GetName().Name}");
            Assert.False(type!.IsPublic, $"{name} is public");
        }
        Assert.True(typeof(CheckpointConverter).IsPublic && typeof(CheckpointVerifier).IsPublic && typeof(ModelInspection).IsPublic);
        // The bench lives in its own assembly and is internal too.
        Assert.False(typeof(MegatronBridge.Benchmarks.BenchRunner).IsPublic, "BenchRunner is public");
    }
}
