using System.Numerics;
using System.Security.Cryptography;
using MegatronBridge.Formats.Pickle;
using Xunit;

namespace MegatronBridge.Tests.Formats.Pickle;

public class PickleWriterTests
{
    // The same structure that CPython 3.11 pickled to produce the hashes below:
    // {'d': {f'k{i}': i*1000 for i in range(6000)}, 'l': [f's{i}' for i in range(2001)], 'big': 2**70, 'neg': -5,
    //  'm': -2**40, 'f': 1.5, 't': (1, 2, 3, 4), 'e': (), 'n': None, 'b': True, 'x': [7]}
    private static PyDict Sample()
    {
        var d = new PyDict();
        for (int i = 0; i < 6000; i++) d.Add($"k{i}", (long)i * 1000);
        var l = new List<object?>();
        for (int i = 0; i < 2001; i++) l.Add($"s{i}");
        return new PyDict()
            .Add("d", d).Add("l", l).Add("big", BigInteger.Pow(2, 70)).Add("neg", -5L).Add("m", -(1L << 40))
            .Add("f", 1.5).Add("t", PyTuple.Of(1L, 2L, 3L, 4L)).Add("e", PyTuple.Of()).Add("n", null).Add("b", true)
            .Add("x", new List<object?> { 7L });
    }

    [Theory]
    [InlineData(2, 147122, "7d24b57d4eda571558aa1e8d6cf30c097baac0f9154cb70fcbc69e42890ca127")]
    [InlineData(4, 91804, "166c1aa766df84eb8d29a6b79a53f3036d90925bbc748c60246cf7787a163639")]
    public void Matches_cpython_output_including_batching_and_framing(int protocol, int length, string sha256)
    {
        var bytes = PickleWriter.Serialize(Sample(), protocol);
        Assert.Equal(length, bytes.Length);
        Assert.Equal(sha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    [Fact]
    public void Written_pickle_reads_back_to_the_same_values()
    {
        var back = Assert.IsType<PyDict>(PickleReader.Load(PickleWriter.Serialize(Sample(), 4), "sample"));
        Assert.True(back.TryGet("d", out var d));
        Assert.Equal(6000, Assert.IsType<PyDict>(d).Count);
        Assert.True(((PyDict)d!).TryGet("k5999", out var v));
        Assert.Equal(5999000L, v);
        Assert.True(back.TryGet("big", out var big));
        Assert.Equal(BigInteger.Pow(2, 70), big);
        Assert.True(back.TryGet("m", out var m));
        Assert.Equal(-(1L << 40), m);
        Assert.True(back.TryGet("l", out var l));
        Assert.Equal("s2000", Assert.IsType<List<object?>>(l)[2000]);
    }

    [Fact]
    public void Shared_objects_are_written_once_and_referenced()
    {
        var shared = new PyStr("storage");
        var bytes = PickleWriter.Serialize(new List<object?> { shared, shared, "cpu", "cpu" }, 2);
        // [ 'storage' 'storage'(BINGET 1) 'cpu' 'cpu' ]: EMPTY_LIST BINPUT0 MARK X..storage BINPUT1 BINGET1 X..cpu BINPUT2 X..cpu BINPUT3 APPENDS STOP
        var expected = Convert.FromHexString(
            "80025D7100285807000000" + Convert.ToHexString("storage"u8) + "71016801" +
            "5803000000" + Convert.ToHexString("cpu"u8) + "7102" + "5803000000" + Convert.ToHexString("cpu"u8) + "7103" + "652E");
        Assert.Equal(expected, bytes);
    }
}

public class OrderedDictPickleTests
{
    // pickle.dumps(collections.OrderedDict((f'k{i}', i) for i in range(n)), protocol=2) from CPython 3.11
    [Theory]
    [InlineData(1001, 15927, "483776ab88c2cc8834f344a14175ac58a1c699a735e7538a5c73b2a7933f66ab")]
    [InlineData(2000, 33910, "5bdc3f95b59c005b938d39fb308f6633f6b77e150e3ce3df812cacc363e96a93")]
    public void Ordered_dict_items_are_batched_like_cpython(int count, int length, string sha256)
    {
        var items = new PyDict();
        for (int i = 0; i < count; i++) items.Add($"k{i}", (long)i);
        var od = PyInstance.Reduce(new PyGlobal("collections", "OrderedDict")).WithDictItems(items);
        var bytes = PickleWriter.Serialize(od, 2);
        Assert.Equal(length, bytes.Length);
        Assert.Equal(sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
        var back = Assert.IsType<PyDict>(PickleReader.Load(bytes, "od"));
        Assert.Equal(count, back.Count);
    }
}
