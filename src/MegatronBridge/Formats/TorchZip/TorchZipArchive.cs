using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Microsoft.Win32.SafeHandles;
using MegatronBridge.IO;

namespace MegatronBridge.Formats.TorchZip;

/// <summary>One stored record of a torch zip archive: name without the archive prefix, absolute data position, size.</summary>
internal sealed record TorchZipRecord(string Name, long DataOffset, long Length, uint Crc32);

/// <summary>
/// Reads and validates a torch.save zip archive lying in a byte range of a file (a whole .pt file or one .distcp
/// item): end records, central directory, one shared archive prefix, stored (uncompressed) records inside the range,
/// no path traversal. Record data is read by range; nothing else is loaded.
/// </summary>
internal sealed class TorchZipArchive
{
    private readonly SafeFileHandle _file;
    private readonly Dictionary<string, TorchZipRecord> _records = new(StringComparer.Ordinal);

    /// <summary>Where the archive is, for error messages ("path" or "path[offset+length]").</summary>
    public string Source { get; }
    public string ArchiveName { get; private set; } = "";
    public long Start { get; }
    public long Length { get; }
    public IReadOnlyCollection<TorchZipRecord> Records => _records.Values;

    private TorchZipArchive(SafeFileHandle file, string source, long start, long length)
    {
        _file = file;
        Source = source;
        Start = start;
        Length = length;
    }

    /// <summary>Opens the archive stored at [<paramref name="start"/>, start + length) of an open file.</summary>
    public static TorchZipArchive Open(SafeFileHandle file, string path, long start, long length)
    {
        var fileLength = RandomAccess.GetLength(file);
        if (start < 0 || length < 0 || start + length > fileLength)
            throw new InvalidInputException($"{path}: item [{start}, {start + length}) lies outside the file ({fileLength} bytes)");
        var source = start == 0 && length == fileLength ? path : $"{path}[{start}+{length}]";
        var archive = new TorchZipArchive(file, source, start, length);
        archive.Parse();
        return archive;
    }

    private InvalidInputException Bad(string message) => new($"{Source}: {message}");

    private byte[] ReadAt(long offset, int count)
    {
        if (offset < 0 || count < 0 || offset > Length - count) throw Bad($"zip structure at [{offset}, {offset + count}) lies outside the archive ({Length} bytes)");
        var buffer = new byte[count];
        var n = RandomAccess.Read(_file, buffer, Start + offset);
        if (n != count) throw Bad("unexpected end of file");
        return buffer;
    }

    private void Parse()
    {
        if (Length < 22) throw Bad($"too short for a zip archive ({Length} bytes)");
        var head = ReadAt(0, 4);
        if (BinaryPrimitives.ReadUInt32LittleEndian(head) != 0x04034B50) throw Bad("not a zip archive (no PK\\3\\4 local header at the start)");

        var eocd = ReadAt(Length - 22, 22);
        if (BinaryPrimitives.ReadUInt32LittleEndian(eocd) != 0x06054B50)
            throw Bad("no zip end-of-central-directory record at the end (archive comments are not expected in torch files)");
        long entries = BinaryPrimitives.ReadUInt16LittleEndian(eocd.AsSpan(10));
        long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(eocd.AsSpan(12));
        long cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(eocd.AsSpan(16));
        if (Length >= 22 + 20)
        {
            var locator = ReadAt(Length - 22 - 20, 20);
            if (BinaryPrimitives.ReadUInt32LittleEndian(locator) == 0x07064B50)
            {
                var zip64Offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(locator.AsSpan(8));
                var z = ReadAt(zip64Offset, 56);
                if (BinaryPrimitives.ReadUInt32LittleEndian(z) != 0x06064B50) throw Bad("zip64 locator does not point at a zip64 end record");
                entries = Zip64Value(z.AsSpan(32), "entry count");
                cdSize = Zip64Value(z.AsSpan(40), "central directory size");
                cdOffset = Zip64Value(z.AsSpan(48), "central directory offset");
            }
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset > Length || cdSize > Length - cdOffset || cdSize > int.MaxValue)
            throw Bad($"central directory [{cdOffset}, {cdOffset + cdSize}) lies outside the archive");
        if (entries < 1 || entries > cdSize / 46) throw Bad($"implausible entry count {entries} for a {cdSize}-byte central directory");

        var cd = ReadAt(cdOffset, (int)cdSize);
        int pos = 0;
        string? prefix = null;
        for (long i = 0; i < entries; i++)
        {
            if (pos + 46 > cd.Length || BinaryPrimitives.ReadUInt32LittleEndian(cd.AsSpan(pos)) != 0x02014B50)
                throw Bad($"central directory entry {i} is malformed");
            var e = cd.AsSpan(pos);
            var method = BinaryPrimitives.ReadUInt16LittleEndian(e[10..]);
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
            long compressed = BinaryPrimitives.ReadUInt32LittleEndian(e[20..]);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(e[24..]);
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(e[28..]);
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(e[30..]);
            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(e[32..]);
            long headerOffset = BinaryPrimitives.ReadUInt32LittleEndian(e[42..]);
            if (pos + 46 + nameLength + extraLength + commentLength > cd.Length) throw Bad($"central directory entry {i} runs past the directory");
            var fullName = Encoding.UTF8.GetString(cd, pos + 46, nameLength);
            if (extraLength > 0) ApplyZip64Extra(cd.AsSpan(pos + 46 + nameLength, extraLength), ref size, ref compressed, ref headerOffset);
            pos += 46 + nameLength + extraLength + commentLength;

            if (method != 0) throw Bad($"record '{fullName}' is compressed (method {method}); torch archives store records");
            if (compressed != size) throw Bad($"record '{fullName}' has different stored and real sizes");
            var slash = fullName.IndexOf('/');
            if (slash <= 0) throw Bad($"record '{fullName}' is not inside an archive folder");
            var thisPrefix = fullName[..slash];
            prefix ??= thisPrefix;
            if (thisPrefix != prefix) throw Bad($"record '{fullName}' is outside the archive folder '{prefix}'");
            var name = fullName[(slash + 1)..];
            if (name.Length == 0 || name.StartsWith('/') || name.Contains('\\') || name.Split('/').Any(p => p is ".." or "." or ""))
                throw Bad($"record name '{fullName}' is not a plain relative path");
            if (_records.ContainsKey(name)) throw Bad($"record '{fullName}' appears twice");

            if (headerOffset < 0 || headerOffset > cdOffset - 30) throw Bad($"record '{fullName}' local header lies outside the data area");
            var local = ReadAt(headerOffset, 30);
            if (BinaryPrimitives.ReadUInt32LittleEndian(local) != 0x04034B50) throw Bad($"record '{fullName}' has no local header at {headerOffset}");
            int localName = BinaryPrimitives.ReadUInt16LittleEndian(local.AsSpan(26));
            int localExtra = BinaryPrimitives.ReadUInt16LittleEndian(local.AsSpan(28));
            var dataOffset = headerOffset + 30 + localName + localExtra;
            if (size < 0 || dataOffset > cdOffset || size > cdOffset - dataOffset) throw Bad($"record '{fullName}' data [{dataOffset}, {dataOffset + size}) runs into the central directory");
            _records[name] = new TorchZipRecord(name, Start + dataOffset, size, crc);
        }
        ArchiveName = prefix!;
    }

    private void ApplyZip64Extra(ReadOnlySpan<byte> extra, ref long size, ref long compressed, ref long headerOffset)
    {
        while (extra.Length >= 4)
        {
            var id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            var len = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (4 + len > extra.Length) throw Bad("malformed zip extra field");
            var body = extra.Slice(4, len);
            if (id == 1)
            {
                int at = 0;
                if (size == uint.MaxValue && at + 8 <= body.Length) { size = Zip64Value(body[at..], "record size"); at += 8; }
                if (compressed == uint.MaxValue && at + 8 <= body.Length) { compressed = Zip64Value(body[at..], "record compressed size"); at += 8; }
                if (headerOffset == uint.MaxValue && at + 8 <= body.Length) headerOffset = Zip64Value(body[at..], "record header offset");
            }
            extra = extra[(4 + len)..];
        }
    }

    /// <summary>A zip64 64-bit field; values past long.MaxValue cannot describe a real file.</summary>
    private long Zip64Value(ReadOnlySpan<byte> field, string what)
    {
        var value = BinaryPrimitives.ReadUInt64LittleEndian(field);
        if (value > long.MaxValue) throw Bad($"zip64 {what} {value} is out of range");
        return (long)value;
    }

    public bool TryGetRecord(string name, out TorchZipRecord record) => _records.TryGetValue(name, out record!);

    public TorchZipRecord GetRecord(string name) =>
        _records.TryGetValue(name, out var r) ? r : throw Bad($"record '{ArchiveName}/{name}' is missing");

    /// <summary>Reads a small record whole (data.pkl, version, ...), checking its CRC-32 when one is stored.</summary>
    public byte[] ReadRecord(string name, int maxBytes = 256 << 20)
    {
        var r = GetRecord(name);
        if (r.Length > maxBytes) throw Bad($"record '{name}' is {r.Length} bytes, more than the {maxBytes} expected");
        var data = new byte[r.Length];
        if (RandomAccess.Read(_file, data, r.DataOffset) != data.Length) throw Bad($"record '{name}' is truncated");
        if (r.Length > 0 && r.Crc32 != 0 && Crc32.HashToUInt32(data) != r.Crc32) throw Bad($"record '{name}' fails its CRC-32 check");
        return data;
    }

    /// <summary>Reads <paramref name="destination"/>.Length bytes of a record from <paramref name="offset"/>.</summary>
    public void ReadRecordRange(TorchZipRecord record, long offset, Span<byte> destination)
    {
        if (offset < 0 || offset + destination.Length > record.Length)
            throw Bad($"read [{offset}, {offset + destination.Length}) outside record '{record.Name}' ({record.Length} bytes)");
        while (destination.Length > 0)
        {
            var n = RandomAccess.Read(_file, destination, record.DataOffset + offset);
            if (n <= 0) throw Bad($"record '{record.Name}' is truncated");
            destination = destination[n..];
            offset += n;
        }
    }
}
