using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary><c>megatron-bridge inspect</c> on damaged folders: exit 1 and the file and field named.</summary>
public class HostileInspectTests
{
    [Theory]
    [InlineData("{\"hidden_size\": 64,", "config.json")]
    [InlineData("{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\"}", "LlamaForCausalLM")]
    [InlineData("{\"architectures\": [\"Qwen3_5ForCausalLM\"], \"model_type\": \"qwen3_5_text\"}", "config.json")]
    [InlineData("[]", "config.json")]
    public void DamagedConfigIsRefused(string config, string mention)
    {
        using var work = new DamagedCheckpoint();
        File.WriteAllText(work.Config, config);
        var run = Cli.CliRunner.Run("inspect", work.Input);
        Assert.Equal(1, run.ExitCode);
        Assert.StartsWith("inspect: ", run.Error);
        Assert.Contains(mention, run.Error);
        Assert.Empty(work.Leftovers());
    }
}
