using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Reference;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Reference;

public class VisionAndLoaderTests
{
    [Fact]
    public void PatchCoordinates_FollowSpatialMergeBlocks()
    {
        var (rows, cols) = VisionEncoder.PatchCoordinates(new[] { new ImageGrid(1, 4, 4) }, 2);
        Assert.Equal(new[] { 0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3 }, rows);
        Assert.Equal(new[] { 0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3, 2, 3 }, cols);
    }

    [Fact]
    public void PackedExperts_LoadToTheSameMatrices_AsPerExpertTensors()
    {
        // The two fixtures were written from the same weights: one with per-expert tensors, one packed [E, 2I, H].
        var perExpert = ReferenceModel.LoadHf(TestPaths.Fixture("qwen35-vl-moe-tiny")).Weights.Layers[0].Moe!;
        var packed = ReferenceModel.LoadHf(TestPaths.Fixture("qwen35-vl-moe-mixed-tiny")).Weights.Layers[0].Moe!;
        Assert.Equal(perExpert.Experts.Count, packed.Experts.Count);
        for (int e = 0; e < perExpert.Experts.Count; e++)
        {
            Assert.Equal(perExpert.Experts[e].Gate.Data, packed.Experts[e].Gate.Data);
            Assert.Equal(perExpert.Experts[e].Up.Data, packed.Experts[e].Up.Data);
            Assert.Equal(perExpert.Experts[e].Down.Data, packed.Experts[e].Down.Data);
        }
    }

    [Fact]
    public void HubTransposedExperts_AreTransposedOnLoad()
    {
        // Qwen3-VL hub layout gate_up_proj [E, H, 2I]: gate row i of expert e is column i of the stored [H, 2I] block.
        using var checkpoint = SafetensorsCheckpoint.Open(TestPaths.Fixture("qwen3-vl-moe-tiny"));
        var stored = ElementConvert.ReadFloats(checkpoint, "model.language_model.layers.0.mlp.experts.gate_up_proj");
        var storedDown = ElementConvert.ReadFloats(checkpoint, "model.language_model.layers.0.mlp.experts.down_proj");
        var moe = ReferenceModel.LoadHf(TestPaths.Fixture("qwen3-vl-moe-tiny")).Weights.Layers[0].Moe!;
        const int h = 64, inter = 24, e = 3;
        Assert.Equal(stored[e * h * 2 * inter + 5 * 2 * inter + 7], moe.Experts[e].Gate.Data[7 * h + 5]);
        Assert.Equal(stored[e * h * 2 * inter + 5 * 2 * inter + inter + 7], moe.Experts[e].Up.Data[7 * h + 5]);
        // down_proj [E, I, H]: Down[o, i] = stored[e, i, o].
        Assert.Equal(storedDown[e * inter * h + 7 * h + 5], moe.Experts[e].Down.Data[5 * inter + 7]);
    }

    [Fact]
    public void MissingTensor_IsReportedByName()
    {
        var folder = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        var source = new MemoryTensorSource("trimmed");
        foreach (var meta in checkpoint.Tensors.Where(t => t.Name != "model.layers.3.self_attn.k_norm.weight"))
            source.Add(meta, checkpoint.ReadAll(meta.Name));
        var e = Assert.Throws<InvalidInputException>(() => ReferenceModel.FromSource(HfConfig.LoadFromFolder(folder), source));
        Assert.Contains("model.layers.3.self_attn.k_norm.weight", e.Message);
    }

    [Fact]
    public void WrongShape_IsReportedWithTensorAndExpectedShape()
    {
        var folder = TestPaths.Fixture("qwen35-text-dense-tied-tiny");
        using var checkpoint = SafetensorsCheckpoint.Open(folder);
        var source = new MemoryTensorSource("bad");
        foreach (var meta in checkpoint.Tensors)
        {
            if (meta.Name == "model.layers.0.linear_attn.out_proj.weight")
                source.Add(meta.Name, meta.DType, new TensorShape(128, 64), checkpoint.ReadAll(meta.Name));
            else
                source.Add(meta, checkpoint.ReadAll(meta.Name));
        }
        var e = Assert.Throws<InvalidInputException>(() => ReferenceModel.FromSource(HfConfig.LoadFromFolder(folder), source));
        Assert.Contains("model.layers.0.linear_attn.out_proj.weight", e.Message);
        Assert.Contains("64 x 128", e.Message);
    }

    [Fact]
    public void BadLayerType_IsReportedWithField()
    {
        var json = File.ReadAllText(Path.Combine(TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "config.json"))
            .Replace("\"full_attention\"", "\"sliding_attention\"");
        var e = Assert.Throws<InvalidInputException>(() => ReferenceConfig.FromHf(HfConfig.Parse(json, "cfg.json")));
        Assert.Contains("layer_types[3]", e.Message);
        Assert.Contains("cfg.json", e.Message);
    }

    [Fact]
    public void UnsupportedActivation_IsReportedWithField()
    {
        var json = File.ReadAllText(Path.Combine(TestPaths.Fixture("qwen35-text-dense-tied-tiny"), "config.json"))
            .Replace("\"silu\"", "\"relu\"");
        var e = Assert.Throws<InvalidInputException>(() => ReferenceConfig.FromHf(HfConfig.Parse(json, "cfg.json")));
        Assert.Contains("hidden_act 'relu'", e.Message);
    }

    [Fact]
    public void TwoImagesInOneCall_AttendSeparately_AndEqualTwoCalls()
    {
        var folder = TestPaths.Fixture("qwen3-vl-dense-tiny");
        var image = ReferenceOutputs.Load(Path.Combine(folder, ReferenceOutputs.FileName)).Single(c => c.Name == "image").Image!;
        using var model = ReferenceModel.LoadHf(folder);
        // Second image: the first one's patches in reverse order of merge windows (a different picture of the same grid).
        int per = image.PixelValues.Length / 4;
        var second = Enumerable.Range(0, 4).Reverse().SelectMany(i => image.PixelValues.Skip(i * per).Take(per)).ToArray();
        var grid = image.Grids.Single();
        var both = model.EncodeImages(new ImageInput(image.PixelValues.Concat(second).ToArray(), new[] { grid, grid }));
        var a = model.EncodeImages(image);
        var b = model.EncodeImages(new ImageInput(second, new[] { grid }));
        Assert.Equal(a.Tokens + b.Tokens, both.Tokens);
        AssertClose(a.ImageEmbeds.Concat(b.ImageEmbeds).ToArray(), both.ImageEmbeds);
        AssertClose(a.Deepstack[0].Concat(b.Deepstack[0]).ToArray(), both.Deepstack[0]);
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var diff = Difference.Of(actual, expected);
        Assert.True(diff.MaxAbs < 1e-5, $"max |diff| {diff.MaxAbs:E3}");
    }
}
