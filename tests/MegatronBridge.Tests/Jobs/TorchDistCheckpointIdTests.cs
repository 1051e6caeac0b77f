using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Jobs;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>The DCP metadata names the folder the checkpoint ends up in, not the hidden staging folder it was written in.</summary>
public class TorchDistCheckpointIdTests
{
    [Fact]
    public void Checkpoint_id_is_the_final_iteration_folder()
    {
        using var temp = TestPaths.NewTempDir();
        var target = Path.Combine(temp.Path, "megatron");
        CheckpointConverter.Import(new ImportRequest(TestPaths.Fixture("qwen3-vl-dense-tiny"), target));

        var iteration = Path.Combine(target, "iter_0000000");
        var metadata = DcpMetadataPickle.Parse(File.ReadAllBytes(Path.Combine(iteration, ".metadata")), iteration);
        Assert.Equal(iteration, metadata.CheckpointId);
        Assert.DoesNotContain(".partial-", metadata.CheckpointId);
    }
}
