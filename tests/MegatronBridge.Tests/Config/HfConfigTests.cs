using MegatronBridge.Config;
using MegatronBridge.IO;
using Xunit;

namespace MegatronBridge.Tests.Config;

/// <summary>The HF config model keeps Python getattr's three states: absent, present-but-null, value.</summary>
public class HfConfigTests
{
    private const string Json = """
    {
      "architectures": ["Qwen3_5ForConditionalGeneration"],
      "tie_word_embeddings": true,
      "dtype": "bfloat16",
      "text_config": {"hidden_size": 64, "bos_token_id": null, "eos_token_id": [1, 2], "rope_parameters": {"rope_theta": 1e7, "mrope_section": [2, 1, 1]}},
      "vision_config": {"depth": 2}
    }
    """;

    [Fact]
    public void AbsentNullAndValueAreDistinct()
    {
        var cfg = HfConfig.Parse(Json, "x/config.json");
        Assert.True(cfg.Text.Has("bos_token_id"));
        Assert.True(cfg.Text.IsNull("bos_token_id"));
        Assert.Null(cfg.Text.BosTokenId);
        Assert.False(cfg.Text.Has("pad_token_id"));
        Assert.Equal(new[] { 1, 2 }, cfg.Text.EosTokenId);
        Assert.Equal(64, cfg.Text.HiddenSize);
    }

    [Fact]
    public void NestedSectionsAndRopeParameters()
    {
        var cfg = HfConfig.Parse(Json, "x/config.json");
        Assert.True(cfg.HasTextConfig);
        Assert.Equal("x/config.json: text_config", cfg.Text.Where);
        Assert.Equal(1e7, cfg.Text.RopeTheta);
        Assert.Equal(new[] { 2, 1, 1 }, cfg.Text.MropeSection);
        Assert.Equal(2, cfg.Vision!.Depth);
        Assert.Empty(cfg.Vision.DeepstackVisualIndexes);
        Assert.True(cfg.TieWordEmbeddings);
        Assert.Equal("bfloat16", cfg.DType);
    }

    [Fact]
    public void FlatConfigIsItsOwnTextConfig()
    {
        var cfg = HfConfig.Parse("""{"hidden_size": 8, "torch_dtype": "float16"}""", "flat/config.json");
        Assert.False(cfg.HasTextConfig);
        Assert.Equal(8, cfg.Text.HiddenSize);
        Assert.Equal("float16", cfg.Text.DType);
        Assert.Null(cfg.Vision);
    }

    [Fact]
    public void WrongTypesAndBadJsonAreInvalidData()
    {
        var cfg = HfConfig.Parse("""{"hidden_size": "big"}""", "t/config.json");
        var e = Assert.Throws<InvalidInputException>(() => cfg.Text.HiddenSize);
        Assert.Contains("t/config.json", e.Message);
        Assert.Contains("hidden_size", e.Message);
        Assert.Throws<InvalidInputException>(() => HfConfig.Parse("{not json", "u/config.json"));
        Assert.Throws<InvalidInputException>(() => HfConfig.Parse("[1]", "v/config.json"));
    }
}
