using System.Text;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.IO;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// Hostile <c>.pt</c> files (torch.save zip archives: common.pt, model_optim_rng.pt): forbidden globals, truncation and
/// record names that climb out of the archive folder are refused with the file named, and nothing is executed.
/// </summary>
public class HostileTorchFileTests
{
    private static string Save(TempDir temp, object? value, string name = "common.pt")
    {
        var path = temp.Sub(name);
        TorchSave.WriteFile(path, value);
        return path;
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("posix", "system")]
    public void ForbiddenGlobalInAPtFileIsRefused(string module, string name)
    {
        using var temp = TestPaths.NewTempDir();
        var state = new PyDict().Add("iteration", 0L)
            .Add("args", PyInstance.Reduce(new PyGlobal(module, name), new PyStr("touch pwned")));
        var path = Save(temp, state);
        var e = Assert.Throws<InvalidInputException>(() => TorchLoad.LoadFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"'{module}.{name}'", e.Message);
        Assert.False(File.Exists(Path.Combine(Environment.CurrentDirectory, "pwned")));
    }

    [Fact]
    public void TruncatedPtFileIsRefused()
    {
        using var temp = TestPaths.NewTempDir();
        var path = Save(temp, new PyDict().Add("iteration", 7L));
        var bytes = File.ReadAllBytes(path);
        for (int cut = 1; cut < bytes.Length; cut += Math.Max(1, bytes.Length / 40))
        {
            File.WriteAllBytes(path, bytes[..cut]);
            var e = Assert.Throws<InvalidInputException>(() => TorchLoad.LoadFile(path));
            Assert.Contains(path, e.Message);
        }
    }

    [Theory]
    [InlineData("common/version", "common/../vers")]
    [InlineData("common/version", "../com/version")]
    [InlineData("common/version", "common//versio")]
    [InlineData("common/version", "common\\version")]
    [InlineData("common/data.pkl", "/common/dat.pkl")]
    public void RecordNamesLeavingTheArchiveFolderAreRefused(string original, string hostile)
    {
        Assert.Equal(original.Length, hostile.Length);
        using var temp = TestPaths.NewTempDir();
        var path = Save(temp, new PyDict().Add("iteration", 7L));
        var bytes = File.ReadAllBytes(path);
        var replaced = Replace(bytes, Encoding.ASCII.GetBytes(original), Encoding.ASCII.GetBytes(hostile));
        Assert.True(replaced >= 2, "local and central headers both name the record");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidInputException>(() => TorchLoad.LoadFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("record", e.Message);
    }

    [Fact]
    public void PickleTruncatedAtEveryByteIsRefused()
    {
        var pickle = PickleWriter.Serialize(new PyDict().Add("iteration", 7L).Add("args", PyTuple.Of(1L, new PyStr("x"), 2.5)), 2);
        for (int cut = 0; cut < pickle.Length; cut++)
        {
            var e = Assert.Throws<InvalidInputException>(() => PickleReader.Load(pickle.AsMemory(0, cut), "state.pkl"));
            Assert.Contains("state.pkl", e.Message);
        }
    }

    [Fact]
    public void SelfReferentialPickleInAnErrorMessageIsRefusedWithoutOverflowingTheStack()
    {
        // {1: <itself>} through the memo, given where a DCP Metadata object is expected: the message quotes it.
        var pickle = new byte[] { 0x80, 0x02, (byte)'}', (byte)'q', 0, (byte)'K', 1, (byte)'h', 0, (byte)'s', (byte)'.' };
        var dict = Assert.IsType<PyDict>(PickleReader.Load(pickle, "cyclic.pkl"));
        Assert.Contains("...", dict.ToString());
        var e = Assert.Throws<InvalidInputException>(() => MegatronBridge.Formats.TorchDist.DcpMetadataPickle.Parse(pickle, "iter/.metadata"));
        Assert.Contains("iter/.metadata", e.Message);
    }

    [Fact]
    public void ExponentiallyWideReprIsBounded()
    {
        object? value = new PyStr("leaf");
        for (int i = 0; i < 40; i++) value = PyTuple.Of(value, value, value);
        var text = PyFormat.Repr(value);
        Assert.InRange(text.Length, 10, 200_000);
    }

    private static int Replace(byte[] haystack, byte[] needle, byte[] replacement)
    {
        int count = 0;
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            if (!haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) continue;
            replacement.CopyTo(haystack, i);
            count++;
        }
        return count;
    }
}
