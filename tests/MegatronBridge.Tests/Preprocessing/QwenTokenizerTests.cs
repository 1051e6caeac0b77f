using System.Text.Json.Nodes;
using MegatronBridge.IO;
using MegatronBridge.Preprocessing;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

public sealed class QwenTokenizerTests
{
    private static readonly string Folder = TestPaths.Fixture("qwen35-processor-tiny");
    private static readonly Lazy<QwenTokenizer> Fixture = new(() => QwenTokenizer.FromFolder(Folder));

    /// <summary>The four strings of reference_tokens.json, with the ids and decoded text tokenizers 0.23 produced.</summary>
    public static IEnumerable<object[]> ReferenceCases()
    {
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "reference_tokens.json")))!.AsObject();
        var cases = root["cases"]!.AsObject();
        var decoded = root["decoded"]!.AsObject();
        foreach (var (text, ids) in cases)
            yield return new object[] { text, ids!.AsArray().Select(x => x!.GetValue<int>()).ToArray(), decoded[text]!.GetValue<string>() };
    }

    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void EncodeGivesTheReferenceIds(string text, int[] expectedIds, string _)
    {
        Assert.Equal(expectedIds, Fixture.Value.Encode(text));
    }

    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void DecodeOfTheReferenceIdsGivesTheReferenceText(string _, int[] ids, string expectedText)
    {
        Assert.Equal(expectedText, Fixture.Value.Decode(ids));
    }

    [Fact]
    public void ReferenceCasesAreAllThere()
    {
        Assert.Equal(4, ReferenceCases().Count());
    }

    [Fact]
    public void AddedTokensAreCutOutBeforeBpe()
    {
        var tokenizer = Fixture.Value;
        var ids = tokenizer.Encode("<|im_start|>The quick<|im_end|>");
        Assert.Equal(1, ids[0]);
        Assert.Equal(2, ids[^1]);
        Assert.Equal(new[] { 284, 371 }, ids[1..^1]); // "The", " quick" as in the reference case
        Assert.Equal("<|im_start|>The quick<|im_end|>", tokenizer.Decode(ids));
        Assert.Equal("The quick", tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void TokenLookupsWorkBothWays()
    {
        var tokenizer = Fixture.Value;
        Assert.Equal(3, tokenizer.TokenToId("<|vision_start|>"));
        Assert.Equal("Ġt", tokenizer.IdToToken(260));
        Assert.Null(tokenizer.TokenToId("no such token"));
        Assert.Null(tokenizer.IdToToken(99_999));
    }

    [Fact]
    public void DecodeOfAnUnknownIdNamesIt()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Fixture.Value.Decode(new[] { 5, 123_456 }));
        Assert.Contains("123456", e.Message);
    }

    [Fact]
    public void ByteLevelAlphabetMapsSpaceNewlineAndNonAscii()
    {
        Assert.Equal('Ġ', ByteLevelAlphabet.ToChar((byte)' '));
        Assert.Equal('Ċ', ByteLevelAlphabet.ToChar((byte)'\n'));
        Assert.Equal('a', ByteLevelAlphabet.ToChar((byte)'a'));
        // 'ö' is C3 B6 in UTF-8; both bytes are printable Latin-1 and stand for themselves.
        Assert.Equal("Ã¶", ByteLevelAlphabet.Encode("ö"));
        for (int b = 0; b < 256; b++)
        {
            Assert.True(ByteLevelAlphabet.TryToByte(ByteLevelAlphabet.ToChar((byte)b), out var back));
            Assert.Equal(b, back);
        }
    }

    /// <summary>A hand-made tokenizer.json in Qwen2/3's shape: NFC, Split with Qwen's regex, ByteLevel without regex.</summary>
    private const string QwenShaped = """
    {
      "added_tokens": [ { "id": 9, "content": "<|image_pad|>", "special": true } ],
      "normalizer": { "type": "NFC" },
      "pre_tokenizer": { "type": "Sequence", "pretokenizers": [
        { "type": "Split", "pattern": { "Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
          "behavior": "Isolated", "invert": false },
        { "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false } ] },
      "decoder": { "type": "ByteLevel" },
      "model": { "type": "BPE", "vocab": { "a": 0, "b": 1, "Ġ": 2, "1": 3, "2": 4, "ab": 5, "Ġab": 6, "Ã": 7, "©": 8 },
                 "merges": [ "a b", ["Ġ", "ab"] ] }
    }
    """;

    [Fact]
    public void QwenShapedTokenizerSplitsDigitsSingly_MergesByRank_AndCutsAddedTokens()
    {
        var tokenizer = QwenTokenizer.Parse(QwenShaped, "qwen-shaped");
        // " ab" -> one piece "Ġab" (merge a+b first, then Ġ+ab); Qwen's regex splits "12" into "1", "2".
        Assert.Equal(new[] { 5, 6, 3, 4 }, tokenizer.Encode("ab ab12"));
        Assert.Equal(new[] { 5, 9, 1 }, tokenizer.Encode("ab<|image_pad|>b"));
        // Precomposed U+00E9 is C3 A9 in UTF-8 -> "Ã", "©".
        Assert.Equal(new[] { 7, 8 }, tokenizer.Encode("\u00e9"));
        Assert.Equal("ab ab12", tokenizer.Decode(tokenizer.Encode("ab ab12")));
    }

    [Fact]
    public void NfcNormalizerComposesDecomposedInput()
    {
        var tokenizer = QwenTokenizer.Parse(QwenShaped, "qwen-shaped");
        // "e" + combining acute is U+00E9 after NFC -> C3 A9 -> "Ã", "©"; unnormalised, "e" is not even in the vocabulary.
        Assert.Equal(new[] { 7, 8 }, tokenizer.Encode("e\u0301"));
    }

    [Fact]
    public void OtherUnicodeNormalizersAreRejected()
    {
        var json = QwenShaped.Replace("\"type\": \"NFC\"", "\"type\": \"NFKC\"");
        var e = Assert.Throws<InvalidInputException>(() => QwenTokenizer.Parse(json, "nfkc.json"));
        Assert.Contains("NFKC", e.Message);
    }

    private static string WithSplit(string behavior, bool invert) => """
    {
      "pre_tokenizer": { "type": "Sequence", "pretokenizers": [
        { "type": "Split", "pattern": { "String": "-" }, "behavior": "BEHAVIOR", "invert": INVERT },
        { "type": "ByteLevel", "add_prefix_space": false, "use_regex": false } ] },
      "decoder": { "type": "ByteLevel" },
      "model": { "type": "BPE", "vocab": { "a": 0, "b": 1, "-": 2, "ab": 3 }, "merges": [ "a b" ] }
    }
    """.Replace("BEHAVIOR", behavior).Replace("INVERT", invert ? "true" : "false");

    [Theory]
    // Isolated: "ab", "-", "ab"; Removed: the dashes go; Removed + invert: only the dashes stay.
    [InlineData("Isolated", false, new[] { 3, 2, 3 })]
    [InlineData("Removed", false, new[] { 3, 3 })]
    [InlineData("Removed", true, new[] { 2 })]
    public void SplitBehaviorsCutAsTokenizersDoes(string behavior, bool invert, int[] expected)
    {
        // Merging "a"+"b" across a dash would be wrong: the pieces are separate words.
        Assert.Equal(expected, QwenTokenizer.Parse(WithSplit(behavior, invert), "split.json").Encode("ab-ab"));
    }

    [Fact]
    public void NonStringTypeIsRejectedWithTheField()
    {
        var e = Assert.Throws<InvalidInputException>(() => QwenTokenizer.Parse("""{"model": {"type": 5, "vocab": {}}}""", "bad.json"));
        Assert.Contains("bad.json", e.Message);
        Assert.Contains("type", e.Message);
    }

    [Fact]
    public void UnsupportedModelTypeIsRejectedWithTheField()
    {
        var e = Assert.Throws<InvalidInputException>(() => QwenTokenizer.Parse("""{"model": {"type": "WordPiece", "vocab": {}}}""", "bad.json"));
        Assert.Contains("bad.json", e.Message);
        Assert.Contains("WordPiece", e.Message);
    }

    [Fact]
    public void MergeOutsideTheVocabularyIsRejected()
    {
        var e = Assert.Throws<InvalidInputException>(() => QwenTokenizer.Parse(
            """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}""", "bad.json"));
        Assert.Contains("merges[0]", e.Message);
    }

    [Fact]
    public void InvalidJsonIsRejectedWithThePath()
    {
        var e = Assert.Throws<InvalidInputException>(() => QwenTokenizer.Parse("{not json", "broken/tokenizer.json"));
        Assert.Contains("broken/tokenizer.json", e.Message);
    }

    [Fact]
    public void MissingFileIsReported()
    {
        Assert.Throws<FileNotFoundException>(() => QwenTokenizer.FromFolder(Path.Combine(Folder, "nope")));
    }
}
