using MegatronBridge.Conversion;
using MegatronBridge.Jobs;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Jobs;

/// <summary>
/// Export produces large tensors in row slices from several threads. With the slice size cut to 512 bytes every
/// tiny fixture tensor is sliced too, and the exported folder must still equal the original, byte for byte.
/// </summary>
public class SlicedExportTests
{
    [Theory]
    [MemberData(nameof(TestPaths.ModelFixtureData), MemberType = typeof(TestPaths))]
    public void ExportInSmallSlices_ReproducesEveryTensor(string fixture)
    {
        using var tmp = TestPaths.NewTempDir();
        var hfDir = TestPaths.Fixture(fixture);
        var dist = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("dist")));
        bool moe = fixture.Contains("moe", StringComparison.Ordinal);
        var legacy = CheckpointConverter.Import(new ImportRequest(hfDir, tmp.Sub("legacy")) { Format = MegatronFormat.Torch, Layout = new ParallelLayout(tp: 2, ep: moe ? 2 : 1) });
        long saved = HfFolderWriter.SliceBytes;
        HfFolderWriter.SliceBytes = 512;
        try
        {
            var fromDist = CheckpointConverter.Export(new ExportRequest(hfDir, dist.MegatronPath, tmp.Sub("hf-dist")));
            HfRoundTrip.AssertSameTensors(hfDir, fromDist.HfPath, fixture + " (torch_dist, sliced)");
            var fromLegacy = CheckpointConverter.Export(new ExportRequest(hfDir, legacy.MegatronPath, tmp.Sub("hf-legacy")));
            HfRoundTrip.AssertSameTensors(hfDir, fromLegacy.HfPath, fixture + " (legacy TP2, sliced)");
        }
        finally
        {
            HfFolderWriter.SliceBytes = saved;
        }
    }
}
