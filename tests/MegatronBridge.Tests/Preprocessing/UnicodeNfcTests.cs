using System.Text.Json.Nodes;
using MegatronBridge.Preprocessing;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

/// <summary>
/// NFC against Python's unicodedata (Unicode 15.1), whose results are stored in Data/nfc_cases.json: random mixes
/// of bases, marks of many classes, Hangul jamo, singletons and excluded composites, plus every character that has
/// a canonical decomposition, given in decomposed form.
/// </summary>
public sealed class UnicodeNfcTests
{
    private static readonly string Data = Path.GetFullPath(Path.Combine(TestPaths.Fixture(""), "..", "MegatronBridge.Tests", "Preprocessing", "Data"));

    [Fact]
    public void MatchesPythonUnicodedataOnEveryStoredCase()
    {
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(Data, "nfc_cases.json")))!.AsObject();
        Assert.Equal(UnicodeNfc.UnicodeVersion, root["unicode"]!.GetValue<string>());
        var cases = root["cases"]!.AsArray();
        Assert.True(cases.Count > 2000);
        var failures = new List<string>();
        foreach (var c in cases)
        {
            string input = c![0]!.GetValue<string>(), expected = c[1]!.GetValue<string>();
            var actual = UnicodeNfc.Normalize(input);
            if (actual != expected) failures.Add($"{Hex(input)}: expected {Hex(expected)}, got {Hex(actual)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches, first: {string.Join("; ", failures.Take(5))}");
    }

    [Theory]
    [InlineData("e\u0301", "\u00e9")]           // compose
    [InlineData("\u212B", "\u00c5")]            // singleton Angstrom sign -> A with ring
    [InlineData("a\u0323\u0302", "\u1ead")]     // dot below (220) then circumflex (230) -> one letter
    [InlineData("a\u0302\u0323", "\u1ead")]     // same marks in the other order reorder first
    [InlineData("\u1100\u1161\u11a8", "\uac01")] // Hangul L V T
    [InlineData("plain ASCII", "plain ASCII")]
    public void HandWorkedCases(string input, string expected)
    {
        Assert.Equal(expected, UnicodeNfc.Normalize(input));
    }

    private static string Hex(string s) => string.Join(" ", s.EnumerateRunes().Select(r => r.Value.ToString("X4")));
}
