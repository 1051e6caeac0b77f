using System.Buffers.Binary;
using System.Text;

namespace MegatronBridge.Tests.Formats.Safetensors;

/// <summary>Byte-level access to .safetensors files for tests that need to build or damage them by hand.</summary>
internal static class RawSafetensors
{
    /// <summary>The header JSON (padding trimmed) and the data section of a file.</summary>
    public static (string Header, byte[] Data) Split(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int n = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        return (Encoding.UTF8.GetString(bytes, 8, n).TrimEnd(' '), bytes[(8 + n)..]);
    }

    /// <summary>Writes the 8-byte length, the header exactly as given (no padding) and the data.</summary>
    public static void Write(string path, string header, ReadOnlySpan<byte> data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)h.Length);
        f.Write(len);
        f.Write(h);
        f.Write(data);
    }

    /// <summary>Copies a file with its header JSON edited by <paramref name="edit"/> (the data is kept).</summary>
    public static void CopyWithHeader(string source, string destination, Func<string, string> edit)
    {
        var (header, data) = Split(source);
        var edited = edit(header);
        if (edited == header) throw new InvalidOperationException("the edit changed nothing: the test would not test anything");
        Write(destination, edited, data);
    }
}
