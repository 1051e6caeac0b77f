using System.Text.Json.Nodes;
using MegatronBridge.Preprocessing;
using Xunit;

namespace MegatronBridge.Tests.Preprocessing;

/// <summary>Piece boundaries worked by hand from the split patterns' code-point semantics (as tokenizers' Rust regex applies them).</summary>
public sealed class PreTokenizerTests
{
    private const string QwenPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static PreTokenizer QwenSplit() => PreTokenizer.FromJson(new JsonObject
    {
        ["type"] = "Split",
        ["pattern"] = new JsonObject { ["Regex"] = QwenPattern },
        ["behavior"] = "Isolated",
        ["invert"] = false,
    }, "test");

    [Fact]
    public void QwenPatternSplitsWordsDigitsAndPunctuation()
    {
        // The punctuation run takes the newline after it ("[\r\n]*"), so "!\n" is one piece.
        Assert.Equal(new[] { "Hello", " world", "1", "2", "!\n", "it", "'s" }, QwenSplit().Split("Hello world12!\nit's"));
    }

    [Fact]
    public void AstralLettersJoinTheirWordLikeBmpLetters()
    {
        // U+1D400 MATHEMATICAL BOLD CAPITAL A is a letter: "x𝐀y" is one \p{L}+ run, " 𝐀" one word with its space.
        Assert.Equal(new[] { "x\U0001D400y", " \U0001D400" }, QwenSplit().Split("x\U0001D400y \U0001D400"));
    }

    [Fact]
    public void AstralDigitsAreSingleDigits()
    {
        // U+1D7CF / U+1D7D0 MATHEMATICAL BOLD DIGIT ONE / TWO are \p{N}: the Qwen pattern takes digits one at a time.
        Assert.Equal(new[] { "\U0001D7CF", "\U0001D7D0" }, QwenSplit().Split("\U0001D7CF\U0001D7D0"));
    }

    [Fact]
    public void EmojiStayPunctuationLikeRuns()
    {
        // U+1F600 is a symbol (So): with a leading space it is one " ?[^\s\p{L}\p{N}]+" run, and the letters split off.
        Assert.Equal(new[] { "hi", " \U0001F600\U0001F600", " ok" }, QwenSplit().Split("hi \U0001F600\U0001F600 ok"));
    }

    [Fact]
    public void Gpt2ByteLevelRegexKeepsTheSpaceWithTheWord()
    {
        var byteLevel = new ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: true);
        Assert.Equal(new[] { "The", "Ġquick", "Ġ123", "'s" }, byteLevel.Split("The quick 123's"));
        var prefixed = new ByteLevelPreTokenizer(addPrefixSpace: true, useRegex: true);
        Assert.Equal(new[] { "ĠThe" }, prefixed.Split("The"));
    }
}
