namespace MegatronBridge.Preprocessing;

/// <summary>
/// GPT-2's reversible byte-to-character table used by byte-level BPE: printable Latin-1 bytes stand for themselves,
/// the other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) take the code points 256, 257, ... in byte order
/// (so a space becomes 'Ġ' U+0120 and a newline 'Ċ' U+010A).
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    public static char ToChar(byte value) => ByteToChar[value];

    public static bool TryToByte(char c, out byte value) => CharToByte.TryGetValue(c, out value);

    /// <summary>The UTF-8 bytes of <paramref name="text"/>, each shown as its table character.</summary>
    public static string Encode(string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    private static char[] BuildTable()
    {
        var table = new char[256];
        bool IsPrintable(int b) => (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int next = 256;
        for (int b = 0; b < 256; b++) table[b] = IsPrintable(b) ? (char)b : (char)next++;
        return table;
    }
}
