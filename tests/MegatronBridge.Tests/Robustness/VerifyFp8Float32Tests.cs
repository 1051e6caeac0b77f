using MegatronBridge.Jobs;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Jobs;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// An FP8 release imported with <c>--torch-dtype float32</c> stores the unrounded dequantised products; verify must
/// dequantise to that dtype, not to bf16 and then widen.
/// </summary>
public class VerifyFp8Float32Tests(Fp8ReleaseFixture fixture) : IClassFixture<Fp8ReleaseFixture>
{
    [Fact]
    public void Verify_of_a_float32_import_of_an_fp8_release_passes()
    {
        using var tmp = TestPaths.NewTempDir();
        var imported = CheckpointConverter.Import(new ImportRequest(fixture.Release, tmp.Sub("mg")) { ParamDType = DType.F32 });
        var verified = CheckpointVerifier.Verify(fixture.Release, imported.MegatronPath);
        Assert.True(verified.Matches, string.Join(", ", verified.Differences.Select(d => d.ToString())));
        Assert.All(verified.Tensors, t => Assert.Equal(DType.F32, t.DType));

        var (exitCode, output, error) = Cli.CliRunner.Run("verify", "--hf-model", fixture.Release, "--megatron-path", imported.MegatronPath);
        Assert.True(exitCode == 0, error + output);
    }

}
