using MegatronBridge.Formats.TorchZip;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchZip;

public class TorchZipZip64Tests
{
    /// <summary>
    /// The zip64 layout (used from 4 GiB on) exercised with a lowered threshold: records past the threshold carry
    /// zip64 extra fields and 24-byte descriptors, and still read back through the validating reader.
    /// </summary>
    [Fact]
    public void Records_past_the_zip64_threshold_read_back()
    {
        using var temp = TestPaths.NewTempDir();
        var path = temp.Sub("big.pt");
        var payload = Enumerable.Range(0, 700).Select(i => (byte)(i * 7)).ToArray();
        long written;
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.ReadWrite))
        {
            var zip = new TorchZipWriter(stream, "big") { Zip64Threshold = 500 };
            zip.WriteRecord("data.pkl", new byte[] { 0x80, 2, 0x4E, 0x2E });
            zip.WriteRecord("data/0", payload.Length, sink => sink.Write(0, payload)); // size over the threshold
            zip.WriteRecord("data/1", payload.AsSpan(0, 10));                           // offset over the threshold
            zip.Finish();
            written = zip.Length;
            Assert.Equal(TorchZipWriter.ArchiveSize("big", new[] { ("data.pkl", 4L), ("data/0", 700L), ("data/1", 10L) }, 500), written);
        }
        Assert.Equal(written, new FileInfo(path).Length);

        using var file = File.OpenHandle(path);
        var archive = TorchZipArchive.Open(file, path, 0, written);
        var big = archive.GetRecord("data/0");
        Assert.Equal(700, big.Length);
        Assert.Equal(0, big.DataOffset % 64);
        Assert.Equal(payload, archive.ReadRecord("data/0"));
        var far = archive.GetRecord("data/1");
        Assert.True(far.DataOffset > 500);
        Assert.Equal(0, far.DataOffset % 64);
        Assert.Equal(payload.AsSpan(0, 10).ToArray(), archive.ReadRecord("data/1"));
        Assert.Null(TorchLoad.Load(archive));

        // The zip64 record's data descriptor has 64-bit sizes: signature, CRC, then 700 as u64 twice.
        var bytes = File.ReadAllBytes(path);
        var descriptor = bytes.AsSpan((int)(big.DataOffset + 700), 24);
        Assert.Equal(new byte[] { 0x50, 0x4B, 0x07, 0x08 }, descriptor[..4].ToArray());
        Assert.Equal(700UL, BitConverter.ToUInt64(descriptor[8..16]));
        Assert.Equal(700UL, BitConverter.ToUInt64(descriptor[16..24]));
    }
}
