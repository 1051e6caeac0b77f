using MegatronBridge.Formats.TorchZip;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchZip;

public class SerializationIdTests
{
    // Expected values printed by a C++ program (g++ 12 / libstdc++) that inserts the same names into a
    // std::unordered_set<std::string> and folds std::hash over its iteration order with torch's hash_combine;
    // n = 0 equals the first half of every golden tensor-less item's serialization_id.
    [Theory]
    [InlineData(0, 2908468677762923104UL)]
    [InlineData(1, 15728199511854643026UL)]
    [InlineData(8, 8268647735604577700UL)]
    [InlineData(9, 1977860353369201443UL)]
    [InlineData(20, 6053964841146262084UL)]
    [InlineData(40, 15065861001111053755UL)]
    [InlineData(100, 9159737005121336556UL)]
    [InlineData(1000, 2450224207034579348UL)]
    public void Name_hash_follows_libstdcxx_unordered_set_order_including_rehashes(int storages, ulong expected)
    {
        var names = new List<string> { "data.pkl", ".format_version", ".storage_alignment", "byteorder" };
        for (int i = 0; i < storages; i++) names.Add($"data/{i}");
        names.Add("version");
        Assert.Equal(expected, SerializationId.NamesHash(names));
    }
}
