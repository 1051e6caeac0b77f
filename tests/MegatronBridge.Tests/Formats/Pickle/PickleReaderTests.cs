using System.Text;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.IO;
using Xunit;

namespace MegatronBridge.Tests.Formats.Pickle;

public class PickleReaderTests
{
    private static byte[] Bytes(params object[] parts)
    {
        var ms = new MemoryStream();
        foreach (var p in parts)
        {
            switch (p)
            {
                case string s: ms.Write(Encoding.UTF8.GetBytes(s)); break;
                case byte b: ms.WriteByte(b); break;
                case int i: ms.WriteByte((byte)i); break;
                case byte[] a: ms.Write(a); break;
            }
        }
        return ms.ToArray();
    }

    [Fact]
    public void Protocol2_global_os_system_is_rejected_by_name()
    {
        // cos\nsystem\n (S'echo pwned' tR.  — what pickle.dumps of a malicious __reduce__ looks like
        var hostile = Bytes(0x80, 2, "cos\nsystem\n", "(X", new byte[] { 4, 0, 0, 0 }, "echo", "tR.");
        var e = Assert.Throws<InvalidInputException>(() => PickleReader.Load(hostile, "evil.pkl"));
        Assert.Contains("os.system", e.Message);
        Assert.Contains("evil.pkl", e.Message);
    }

    [Fact]
    public void Protocol4_stack_global_builtins_eval_is_rejected_by_name()
    {
        var hostile = Bytes(0x80, 4, 0x8C, 8, "builtins", 0x94, 0x8C, 4, "eval", 0x94, 0x93, 0x8C, 1, "1", 0x85, 0x52, ".");
        var e = Assert.Throws<InvalidInputException>(() => PickleReader.Load(hostile, "evil.metadata"));
        Assert.Contains("builtins.eval", e.Message);
    }

    [Fact]
    public void Subprocess_global_is_rejected()
    {
        var hostile = Bytes(0x80, 2, "csubprocess\nPopen\n", ")R.");
        var e = Assert.Throws<InvalidInputException>(() => PickleReader.Load(hostile, "x"));
        Assert.Contains("subprocess.Popen", e.Message);
    }

    [Fact]
    public void Truncated_pickles_are_rejected_with_a_clear_message()
    {
        var good = PickleWriter.Serialize(new PyDict().Add("checkpoint_version", 3.0).Add("iteration", 1000L), 2);
        for (int cut = 1; cut < good.Length; cut++)
        {
            var e = Assert.Throws<InvalidInputException>(() => PickleReader.Load(good.AsMemory(0, cut), "common.pkl"));
            Assert.Contains("common.pkl", e.Message);
        }
    }

    [Fact]
    public void Malformed_stack_is_an_invalid_data_error_not_a_crash()
    {
        Assert.Throws<InvalidInputException>(() => PickleReader.Load(Bytes(0x80, 2, "a."), "x")); // APPEND on empty stack
        Assert.Throws<InvalidInputException>(() => PickleReader.Load(Bytes(0x80, 2, "h", 5, "."), "x")); // memo miss
        Assert.Throws<InvalidInputException>(() => PickleReader.Load(Bytes(0x80, 2, "K", 1, "K", 2, "."), "x")); // two values at STOP
        Assert.Throws<InvalidInputException>(() => PickleReader.Load(Bytes(0x80, 2, 0xFF), "x")); // unknown opcode
    }

    [Fact]
    public void Plain_values_decode()
    {
        // pickle.dumps([1, -2, 300, 70000, 2.5, 'é', None, True, (1,), {'a': 1}], protocol=2)
        var data = Convert.FromHexString(
            "80025D7100284B014AFEFFFFFF4D2C014A701101004740040000000000005802000000C3A971014E884B018571027D710358010000006171044B0173652E");
        var list = Assert.IsType<List<object?>>(PickleReader.Load(data, "x"));
        Assert.Equal(new object?[] { 1L, -2L, 300L, 70000L, 2.5, "é", null, true }, list.Take(8));
        Assert.Equal(1L, Assert.IsType<PyTuple>(list[8])[0]);
        Assert.True(Assert.IsType<PyDict>(list[9]).TryGet("a", out var a) && (long)a! == 1);
    }
}
