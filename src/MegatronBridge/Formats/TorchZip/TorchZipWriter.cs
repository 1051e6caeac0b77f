using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchZip;

/// <summary>
/// Writes one torch.save zip archive (PyTorchStreamWriter over miniz; docs/formats.md, torch.save archives) to a
/// stream, byte for byte: stored records with 64-byte aligned data (FB extra field), data descriptors, CRC-32, central
/// directory, zip64 end records. Record data can be streamed in through an <see cref="ITensorSink"/> so large storages
/// never sit in memory. Offsets inside the archive are relative to the stream position at construction, so an archive
/// can be appended to a larger file (a DCP .distcp item).
/// </summary>
internal sealed class TorchZipWriter
{
    public const int Alignment = 64;
    private const int LocalHeaderSize = 30;
    private const int CentralHeaderSize = 46;
    private const int EndRecordsSize = 56 + 20 + 22;

    private readonly Stream _output;
    private readonly long _start;
    private readonly string _prefix;
    private readonly List<(string Name, long HeaderOffset, long Length, uint Crc)> _records = new();
    private bool _finished;

    /// <summary>
    /// Sizes and offsets from this value on use zip64 extra fields (miniz: 0xFFFFFFFF). Lowered only by tests, to
    /// exercise the zip64 layout without writing 4 GiB.
    /// </summary>
    internal long Zip64Threshold { get; init; } = uint.MaxValue;

    public TorchZipWriter(Stream output, string archiveName = "archive")
    {
        if (string.IsNullOrEmpty(archiveName) || archiveName.Contains('/'))
            throw new ArgumentException($"invalid archive name '{archiveName}'", nameof(archiveName));
        _output = output;
        _start = output.Position;
        _prefix = archiveName + "/";
    }

    /// <summary>Bytes written so far (after <see cref="Finish"/>: the whole archive).</summary>
    public long Length => _output.Position - _start;

    public void WriteRecord(string name, ReadOnlySpan<byte> data)
    {
        var offset = BeginRecord(name, data.Length);
        _output.Write(data);
        EndRecord(name, offset, data.Length, Crc32.HashToUInt32(data));
    }

    /// <summary>
    /// Writes a record of <paramref name="length"/> bytes produced by <paramref name="produce"/>, which must write
    /// every byte of [0, length) into the sink. In-order writes are checksummed on the fly; otherwise the region is
    /// read back once to compute the CRC (the stream must then be readable and seekable).
    /// </summary>
    public void WriteRecord(string name, long length, Action<ITensorSink> produce)
    {
        var offset = BeginRecord(name, length);
        var dataStart = _output.Position;
        var sink = new RecordSink(_output, dataStart, length);
        produce(sink);
        if ((sink.OutOfOrder ? sink.TotalWritten : sink.Covered) < length)
            throw new InvalidOperationException($"record '{name}': the producer wrote {(sink.OutOfOrder ? sink.TotalWritten : sink.Covered)} of {length} bytes");
        uint crc = sink.OutOfOrder ? CrcOfRegion(dataStart, length) : sink.Crc;
        _output.Position = dataStart + length;
        EndRecord(name, offset, length, crc);
    }

    private uint CrcOfRegion(long start, long length)
    {
        if (!_output.CanRead || !_output.CanSeek)
            throw new InvalidOperationException("out-of-order record data needs a readable, seekable output");
        var crc = new Crc32();
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            _output.Position = start;
            long left = length;
            while (left > 0)
            {
                int n = _output.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n <= 0) throw new IOException("record data shorter than declared while computing its CRC");
                crc.Append(buffer.AsSpan(0, n));
                left -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return crc.GetCurrentHashAsUInt32();
    }

    /// <summary>Size of the local part of a record (header, name, extras, padding, data, descriptor) at a given cursor.</summary>
    public static long LocalRecordSize(long cursor, string fullName, long dataLength) =>
        LocalRecordSize(cursor, fullName, dataLength, uint.MaxValue);

    private static long LocalRecordSize(long cursor, string fullName, long dataLength, long threshold)
    {
        var nameLength = Encoding.UTF8.GetByteCount(fullName);
        var zip64 = Zip64ExtraLength(dataLength, cursor, threshold);
        var pad = Padding(cursor, nameLength, zip64);
        return LocalHeaderSize + nameLength + zip64 + 4 + pad + dataLength + DescriptorLength(dataLength, zip64 > 0);
    }

    private static int DescriptorLength(long dataLength, bool zip64) => dataLength == 0 ? 0 : zip64 ? 24 : 16;

    /// <summary>Length of miniz's zip64 extra block: sizes when the record is big, the offset when it starts far.</summary>
    private static int Zip64ExtraLength(long dataLength, long offset, long threshold)
    {
        bool bigSize = dataLength >= threshold, farOffset = offset >= threshold;
        if (!bigSize && !farOffset) return 0;
        return 4 + (bigSize ? 16 : 0) + (farOffset ? 8 : 0);
    }

    /// <summary>PyTorch's getPadding: the data starts on a 64-byte boundary after all extra fields.</summary>
    private static int Padding(long cursor, int nameLength, int zip64ExtraLength)
    {
        var start = cursor + LocalHeaderSize + nameLength + zip64ExtraLength + 4;
        return (int)((Alignment - start % Alignment) % Alignment);
    }

    private static void WriteZip64Extra(Span<byte> destination, long dataLength, long offset, long threshold, bool sizesAfterWrite)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, 0x0001);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], (ushort)(destination.Length - 4));
        int at = 4;
        if (dataLength >= threshold)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], (ulong)dataLength);
            // miniz fills the local header's compressed size before the data is written (0), the central one after.
            BinaryPrimitives.WriteUInt64LittleEndian(destination[(at + 8)..], sizesAfterWrite ? (ulong)dataLength : 0);
            at += 16;
        }
        if (offset >= threshold) BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], (ulong)offset);
    }

    private uint Clamp32(long value) => value >= Zip64Threshold ? uint.MaxValue : (uint)value;

    private long BeginRecord(string name, long length)
    {
        if (_finished) throw new InvalidOperationException("archive already finished");
        var offset = Length;
        var fullName = Encoding.UTF8.GetBytes(_prefix + name);
        var zip64 = Zip64ExtraLength(length, offset, Zip64Threshold);
        var pad = Padding(offset, fullName.Length, zip64);
        Span<byte> h = stackalloc byte[LocalHeaderSize];
        h.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0x04034B50);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], Flags(length));
        BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)fullName.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[28..], (ushort)(zip64 + 4 + pad));
        _output.Write(h);
        _output.Write(fullName);
        Span<byte> extra = stackalloc byte[32 + 4 + Alignment];
        if (zip64 > 0) WriteZip64Extra(extra[..zip64], length, offset, Zip64Threshold, sizesAfterWrite: false);
        var fb = extra[zip64..];
        fb[0] = (byte)'F';
        fb[1] = (byte)'B';
        BinaryPrimitives.WriteUInt16LittleEndian(fb[2..], (ushort)pad);
        fb.Slice(4, pad).Fill((byte)'Z');
        _output.Write(extra[..(zip64 + 4 + pad)]);
        return offset;
    }

    private static ushort Flags(long length) => length > 0 ? (ushort)0x0808 : (ushort)0x0800;

    private void EndRecord(string name, long headerOffset, long length, uint crc)
    {
        if (length > 0)
        {
            bool zip64 = Zip64ExtraLength(length, headerOffset, Zip64Threshold) > 0;
            Span<byte> d = stackalloc byte[24];
            BinaryPrimitives.WriteUInt32LittleEndian(d, 0x08074B50);
            BinaryPrimitives.WriteUInt32LittleEndian(d[4..], crc);
            if (zip64)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(d[8..], (ulong)length);
                BinaryPrimitives.WriteUInt64LittleEndian(d[16..], (ulong)length);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(d[8..], (uint)length);
                BinaryPrimitives.WriteUInt32LittleEndian(d[12..], (uint)length);
            }
            _output.Write(d[..DescriptorLength(length, zip64)]);
        }
        _records.Add((name, headerOffset, length, length > 0 ? crc : 0));
    }

    /// <summary>Writes the <c>version</c> and <c>.data/serialization_id</c> records and the zip directory.</summary>
    public void Finish()
    {
        WriteRecord("version", "3\n"u8);
        var names = _records.Select(r => r.Name).ToList();
        var crcs = _records.Where(r => r.Length > 0).Select(r => r.Crc).ToList();
        WriteRecord(".data/serialization_id", Encoding.ASCII.GetBytes(SerializationId.Compute(names, crcs)));
        _finished = true;

        var cdOffset = Length;
        Span<byte> c = stackalloc byte[CentralHeaderSize];
        Span<byte> zip64Extra = stackalloc byte[32];
        foreach (var r in _records)
        {
            var fullName = Encoding.UTF8.GetBytes(_prefix + r.Name);
            var zip64 = Zip64ExtraLength(r.Length, r.HeaderOffset, Zip64Threshold);
            BinaryPrimitives.WriteUInt32LittleEndian(c, 0x02014B50);
            BinaryPrimitives.WriteUInt16LittleEndian(c[8..], Flags(r.Length));
            BinaryPrimitives.WriteUInt32LittleEndian(c[16..], r.Crc);
            BinaryPrimitives.WriteUInt32LittleEndian(c[20..], Clamp32(r.Length));
            BinaryPrimitives.WriteUInt32LittleEndian(c[24..], Clamp32(r.Length));
            BinaryPrimitives.WriteUInt16LittleEndian(c[28..], (ushort)fullName.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(c[30..], (ushort)zip64);
            BinaryPrimitives.WriteUInt32LittleEndian(c[42..], Clamp32(r.HeaderOffset));
            _output.Write(c);
            _output.Write(fullName);
            if (zip64 > 0)
            {
                WriteZip64Extra(zip64Extra[..zip64], r.Length, r.HeaderOffset, Zip64Threshold, sizesAfterWrite: true);
                _output.Write(zip64Extra[..zip64]);
            }
        }
        var cdSize = Length - cdOffset;
        var zip64EocdOffset = Length;
        Span<byte> e = stackalloc byte[EndRecordsSize];
        e.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(e, 0x06064B50);
        BinaryPrimitives.WriteUInt64LittleEndian(e[4..], 44);
        BinaryPrimitives.WriteUInt16LittleEndian(e[12..], 0x031E);
        BinaryPrimitives.WriteUInt16LittleEndian(e[14..], 0x002D);
        BinaryPrimitives.WriteUInt64LittleEndian(e[24..], (ulong)_records.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(e[32..], (ulong)_records.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(e[40..], (ulong)cdSize);
        BinaryPrimitives.WriteUInt64LittleEndian(e[48..], (ulong)cdOffset);
        var loc = e[56..];
        BinaryPrimitives.WriteUInt32LittleEndian(loc, 0x07064B50);
        BinaryPrimitives.WriteUInt64LittleEndian(loc[8..], (ulong)zip64EocdOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(loc[16..], 1);
        var eocd = e[76..];
        BinaryPrimitives.WriteUInt32LittleEndian(eocd, 0x06054B50);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[8..], (ushort)Math.Min(_records.Count, ushort.MaxValue));
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[10..], (ushort)Math.Min(_records.Count, ushort.MaxValue));
        BinaryPrimitives.WriteUInt32LittleEndian(eocd[12..], Clamp32(cdSize));
        BinaryPrimitives.WriteUInt32LittleEndian(eocd[16..], Clamp32(cdOffset));
        _output.Write(e);
    }

    /// <summary>Exact archive size for records of the given names and lengths (version and serialization_id included).</summary>
    public static long ArchiveSize(string archiveName, IEnumerable<(string Name, long Length)> records) =>
        ArchiveSize(archiveName, records, uint.MaxValue);

    internal static long ArchiveSize(string archiveName, IEnumerable<(string Name, long Length)> records, long threshold)
    {
        var all = records.Concat(new[] { ("version", 2L), (".data/serialization_id", 40L) }).ToList();
        long cursor = 0, central = 0;
        foreach (var (name, length) in all)
        {
            var full = archiveName + "/" + name;
            central += CentralHeaderSize + Encoding.UTF8.GetByteCount(full) + Zip64ExtraLength(length, cursor, threshold);
            cursor += LocalRecordSize(cursor, full, length, threshold);
        }
        return cursor + central + EndRecordsSize;
    }

    /// <summary>Streams record data to the output at offsets relative to the data start.</summary>
    private sealed class RecordSink(Stream output, long dataStart, long length) : ITensorSink
    {
        private readonly Crc32 _crc = new();
        public long Covered { get; private set; }
        public long TotalWritten { get; private set; }
        public bool OutOfOrder { get; private set; }
        public uint Crc => _crc.GetCurrentHashAsUInt32();

        public void Write(long byteOffset, ReadOnlySpan<byte> data)
        {
            if (byteOffset < 0 || byteOffset + data.Length > length)
                throw new ArgumentOutOfRangeException(nameof(byteOffset), $"write [{byteOffset}, {byteOffset + data.Length}) outside the record of {length} bytes");
            if (byteOffset != Covered) OutOfOrder = true;
            TotalWritten += data.Length;
            if (!OutOfOrder)
            {
                _crc.Append(data);
                Covered += data.Length;
            }
            if (output.Position != dataStart + byteOffset) output.Position = dataStart + byteOffset;
            output.Write(data);
        }
    }
}
