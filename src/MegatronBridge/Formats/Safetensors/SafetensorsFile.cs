using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>One entry of a safetensors header: the tensor and where its bytes lie in the file.</summary>
internal sealed record SafetensorsEntry(TensorMeta Meta, long DataStart, long DataEnd);

/// <summary>
/// A single .safetensors file opened for random reads. Only the header is parsed; tensor bytes are read on demand.
/// </summary>
internal sealed class SafetensorsFile : IDisposable
{
    /// <summary>The header size limit of the reference implementation (100 MB).</summary>
    public const int MaxHeaderBytes = 100_000_000;

    private readonly SafeFileHandle _handle;

    private SafetensorsFile(string path, SafeFileHandle handle, long headerLength, SafetensorsHeaderInfo header)
    {
        Path = path;
        _handle = handle;
        DataOffset = 8 + headerLength;
        Entries = header.Entries;
        Metadata = header.Metadata;
        MetadataPosition = header.MetadataPosition;
        ByName = header.Entries.ToDictionary(e => e.Meta.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    /// <summary>Absolute file offset where the data section starts (after the 8-byte length and the header).</summary>
    public long DataOffset { get; }
    /// <summary>Entries in data-offset order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> ByName { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Where <c>__metadata__</c> stood in the header (null when absent or in an unusual place).</summary>
    public SafetensorsMetadataPosition? MetadataPosition { get; }
    /// <summary>The tensors in data-offset order.</summary>
    public IEnumerable<TensorMeta> Tensors => Entries.Select(e => e.Meta);

    public static SafetensorsFile Open(string path)
    {
        MegatronBridge.IO.InputFile.EnsureRegular(path);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8) throw new InvalidInputException($"{path}: not a safetensors file (only {fileLength} bytes)");
            Span<byte> lenBytes = stackalloc byte[8];
            ReadExactly(handle, lenBytes, 0, path);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
            if (headerLength > MaxHeaderBytes)
                throw new InvalidInputException($"{path}: header length {headerLength} exceeds the 100 MB limit");
            if ((long)headerLength > fileLength - 8)
                throw new InvalidInputException($"{path}: header length {headerLength} runs past the end of the file ({fileLength} bytes)");
            var header = new byte[headerLength];
            ReadExactly(handle, header, 8, path);
            var info = SafetensorsHeader.ParseHeader(path, header, fileLength - 8 - (long)headerLength);
            return new SafetensorsFile(path, handle, (long)headerLength, info);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public void Read(SafetensorsEntry entry, long byteOffset, Span<byte> destination)
    {
        if (byteOffset < 0 || byteOffset > entry.Meta.ByteLength - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{Path}: read of {destination.Length} bytes at {byteOffset} is outside tensor '{entry.Meta.Name}' ({entry.Meta.ByteLength} bytes)");
        long at = DataOffset + entry.DataStart + byteOffset;
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(_handle, destination, at);
            if (n <= 0) throw new EndOfStreamException($"{Path}: file ended while reading tensor '{entry.Meta.Name}' (changed since it was opened?)");
            destination = destination[n..];
            at += n;
        }
    }

    /// <summary>Reads bytes of the tensor called <paramref name="name"/>.</summary>
    public void Read(string name, long byteOffset, Span<byte> destination)
    {
        if (!ByName.TryGetValue(name, out var entry)) throw new InvalidInputException($"{Path}: no tensor named '{name}'");
        Read(entry, byteOffset, destination);
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> destination, long at, string path)
    {
        while (destination.Length > 0)
        {
            int n = RandomAccess.Read(handle, destination, at);
            if (n <= 0) throw new InvalidInputException($"{path}: file ended while reading the header");
            destination = destination[n..];
            at += n;
        }
    }

    public void Dispose() => _handle.Dispose();
}
