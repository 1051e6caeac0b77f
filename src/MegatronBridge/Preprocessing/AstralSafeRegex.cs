using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MegatronBridge.Preprocessing;

/// <summary>
/// Runs a split regex with code-point semantics. .NET regexes see UTF-16 code units, so a letter or digit outside the
/// BMP (math alphanumerics, CJK extension B+, historic scripts) is two surrogates of category Cs and misses
/// <c>\p{L}</c> / <c>\p{N}</c>, while the Rust regex behind tokenizers sees one letter. Such code points are replaced
/// by a BMP stand-in of the same general category before matching, and the match positions are mapped back.
/// </summary>
internal static class AstralSafeRegex
{
    public static IEnumerable<(int Start, int Length)> Matches(Regex regex, string text)
    {
        if (!HasSurrogate(text))
        {
            foreach (Match m in regex.Matches(text)) yield return (m.Index, m.Length);
            yield break;
        }
        // offsets[i] = where proxy char i starts in the original text; one extra entry for the end.
        var proxy = new StringBuilder(text.Length);
        var offsets = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length;)
        {
            offsets.Add(i);
            if (Rune.TryGetRuneAt(text, i, out var rune) && rune.Utf16SequenceLength == 2)
            {
                proxy.Append(StandIn(Rune.GetUnicodeCategory(rune)));
                i += 2;
            }
            else
            {
                proxy.Append(text[i]); // a lone surrogate stays as it is
                i++;
            }
        }
        offsets.Add(text.Length);
        foreach (Match m in regex.Matches(proxy.ToString()))
            yield return (offsets[m.Index], offsets[m.Index + m.Length] - offsets[m.Index]);
    }

    private static bool HasSurrogate(string text)
    {
        foreach (char c in text)
            if (char.IsSurrogate(c)) return true;
        return false;
    }

    // BMP characters of each general category, chosen away from ASCII so no literal in a split pattern matches them.
    private static char StandIn(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u023A',
        UnicodeCategory.LowercaseLetter => '\u023C',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\uA000',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.MathSymbol => '\u00B1',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u02C2',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00A1',
        UnicodeCategory.Format => '\u200B',
        UnicodeCategory.PrivateUse => '\uE000',
        UnicodeCategory.OtherNotAssigned => '\uFFFF',
        _ => '\u00A9', // OtherSymbol (emoji and the like) and anything else
    };
}
