using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>One entry of a safetensors header: the tensor and where its bytes lie in the file.</summary>
public sealed record SafetensorsEntry(TensorMeta Meta, long DataStart, long DataEnd);

/// <summary>
/// A single .safetensors file opened for random reads. Only the header is parsed; tensor bytes are read on demand.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    private SafetensorsFile(string path, SafeFileHandle handle, long headerLength, List<SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        DataOffset = 8 + headerLength;
        Entries = entries;
        Metadata = metadata;
        ByName = entries.ToDictionary(e => e.Meta.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    /// <summary>Absolute file offset where the data section starts (after the 8-byte length and the header).</summary>
    public long DataOffset { get; }
    /// <summary>Entries in data-offset order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> ByName { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafetensorsFile Open(string path)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8) throw new InvalidDataException($"{path}: not a safetensors file (only {fileLength} bytes)");
            Span<byte> lenBytes = stackalloc byte[8];
            RandomAccess.Read(handle, lenBytes, 0);
            ulong headerLength = BitConverter.ToUInt64(lenBytes);
            if (headerLength > 100_000_000UL)
                throw new InvalidDataException($"{path}: header length {headerLength} exceeds the 100 MB limit");
            if ((long)headerLength > fileLength - 8)
                throw new InvalidDataException($"{path}: header length {headerLength} runs past the end of the file ({fileLength} bytes)");
            var header = new byte[headerLength];
            RandomAccess.Read(handle, header, 8);
            var (entries, metadata) = SafetensorsHeader.Parse(path, header, fileLength - 8 - (long)headerLength);
            return new SafetensorsFile(path, handle, (long)headerLength, entries, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public void Read(SafetensorsEntry entry, long byteOffset, Span<byte> destination)
    {
        if (byteOffset < 0 || byteOffset + destination.Length > entry.Meta.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{Path}: read outside tensor '{entry.Meta.Name}'");
        long at = DataOffset + entry.DataStart + byteOffset;
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(_handle, destination, at);
            if (n <= 0) throw new EndOfStreamException($"{Path}: file ended while reading tensor '{entry.Meta.Name}'");
            destination = destination[n..];
            at += n;
        }
    }

    public void Dispose() => _handle.Dispose();
}
