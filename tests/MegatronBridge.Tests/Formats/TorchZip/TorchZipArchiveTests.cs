using System.Buffers.Binary;
using System.Text;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchZip;

public class TorchZipArchiveTests
{
    private static byte[] ValidItem() => Save(new List<object?> { TorchTensorValue.FromBytes(DType.I16, new long[] { 3 }, new byte[] { 1, 0, 2, 0, 3, 0 }) });

    private static byte[] Save(object? value)
    {
        var ms = new MemoryStream();
        TorchSave.Write(ms, value);
        return ms.ToArray();
    }

    private static string Open(byte[] bytes, long start = 0, long? length = null)
    {
        using var temp = TestPaths.NewTempDir();
        var path = temp.Sub("item.bin");
        File.WriteAllBytes(path, bytes);
        using var file = File.OpenHandle(path);
        var archive = TorchZipArchive.Open(file, path, start, length ?? bytes.Length);
        return string.Join(",", archive.Records.Select(r => r.Name));
    }

    private static InvalidInputException Rejects(byte[] bytes) => Assert.Throws<InvalidInputException>(() => Open(bytes));

    [Fact]
    public void Valid_item_lists_its_records_and_loads_inside_a_larger_file()
    {
        var item = ValidItem();
        Assert.Equal("data.pkl,.format_version,.storage_alignment,byteorder,data/0,version,.data/serialization_id", Open(item));
        var padded = new byte[17].Concat(item).Concat(new byte[5]).ToArray();
        Assert.Equal("data.pkl,.format_version,.storage_alignment,byteorder,data/0,version,.data/serialization_id", Open(padded, 17, item.Length));
    }

    [Fact]
    public void Bad_magic_missing_end_record_and_short_input_are_rejected()
    {
        var item = ValidItem();
        var noMagic = (byte[])item.Clone();
        noMagic[0] = (byte)'X';
        Assert.Contains("not a zip archive", Rejects(noMagic).Message);
        Assert.Contains("end-of-central-directory", Rejects(item[..^1]).Message);
        Assert.Contains("too short", Rejects(item[..10]).Message);
    }

    [Fact]
    public void Central_directory_outside_the_item_is_rejected()
    {
        var item = ValidItem();
        // zip64 end record: central directory offset at +48 of the zip64 EOCD (which starts 98 bytes before the end)
        BinaryPrimitives.WriteUInt64LittleEndian(item.AsSpan(item.Length - 98 + 48), (ulong)item.Length);
        Assert.Contains("outside the archive", Rejects(item).Message);
    }

    private static byte[] Replace(byte[] bytes, string from, string to)
    {
        Assert.Equal(from.Length, to.Length);
        var f = Encoding.ASCII.GetBytes(from);
        var t = Encoding.ASCII.GetBytes(to);
        var result = (byte[])bytes.Clone();
        for (int i = 0; i + f.Length <= result.Length; i++)
        {
            if (result.AsSpan(i, f.Length).SequenceEqual(f)) t.CopyTo(result, i);
        }
        return result;
    }

    [Fact]
    public void Path_traversal_and_mixed_archive_prefixes_are_rejected()
    {
        var item = ValidItem();
        Assert.Contains("not a plain relative path", Rejects(Replace(item, "archive/byteorder", "archive/../order1")).Message);
        Assert.Contains("outside the archive folder", Rejects(Replace(item, "archive/byteorder", "archivX/byteorder")).Message);
    }

    [Fact]
    public void Record_data_running_into_the_directory_is_rejected()
    {
        var item = ValidItem();
        // Enlarge the size of data/0 in its central directory entry.
        var name = Encoding.ASCII.GetBytes("archive/data/0");
        int cd = item.AsSpan().LastIndexOf(name) - 46;
        Assert.Equal(0x02014B50u, BinaryPrimitives.ReadUInt32LittleEndian(item.AsSpan(cd)));
        BinaryPrimitives.WriteUInt32LittleEndian(item.AsSpan(cd + 20), 100000);
        BinaryPrimitives.WriteUInt32LittleEndian(item.AsSpan(cd + 24), 100000);
        Assert.Contains("runs into the central directory", Rejects(item).Message);
    }

    [Fact]
    public void Corrupted_record_data_fails_its_crc_and_a_missing_storage_is_named()
    {
        var item = Save(new PyDict().Add("a", 1L));
        var corrupt = Replace(item, "little", "LITTLE");
        using var temp = TestPaths.NewTempDir();
        var path = temp.Sub("x.pt");
        File.WriteAllBytes(path, corrupt);
        using (var file = File.OpenHandle(path))
        {
            var archive = TorchZipArchive.Open(file, path, 0, corrupt.Length);
            Assert.Contains("CRC-32", Assert.Throws<InvalidInputException>(() => archive.ReadRecord("byteorder")).Message);
        }

        var tensorItem = Replace(ValidItem(), "archive/data/0", "archive/data/7");
        File.WriteAllBytes(path, tensorItem);
        var e = Assert.Throws<InvalidInputException>(() => TorchLoad.LoadFile(path));
        Assert.Contains("archive/data/0", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Archive_size_is_known_before_writing()
    {
        var prepared = TorchSave.Prepare(new List<object?> { TorchTensorValue.FromBytes(DType.F32, new long[] { 5, 7 }, new byte[140]) });
        var ms = new MemoryStream();
        Assert.Equal(prepared.Length, prepared.WriteTo(ms));
        Assert.Equal(prepared.Length, ms.Length);
    }
}

public class TorchZipWriterProducerTests
{
    [Fact]
    public void A_producer_that_writes_too_little_is_an_error()
    {
        var ms = new MemoryStream();
        var zip = new TorchZipWriter(ms);
        var e = Assert.Throws<InvalidOperationException>(() => zip.WriteRecord("data/0", 10, sink => sink.Write(0, new byte[4])));
        Assert.Contains("wrote 4 of 10", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TorchZipWriter(new MemoryStream()).WriteRecord("data/0", 4, sink => sink.Write(2, new byte[4])));
    }
}

public class HostileStructureTests
{
    private static string WriteArchive(TempDir temp, byte[] dataPkl)
    {
        var path = temp.Sub("x.pt");
        using var stream = File.Create(path);
        var zip = new TorchZipWriter(stream, "x");
        zip.WriteRecord("data.pkl", dataPkl);
        zip.Finish();
        return path;
    }

    [Fact]
    public void Self_referencing_list_loads_without_looping()
    {
        using var temp = TestPaths.NewTempDir();
        // l = []; l.append(l)  ->  EMPTY_LIST BINPUT 0 BINGET 0 APPEND STOP
        var path = WriteArchive(temp, new byte[] { 0x80, 2, (byte)']', (byte)'q', 0, (byte)'h', 0, (byte)'a', (byte)'.' });
        var list = Assert.IsType<List<object?>>(TorchLoad.LoadFile(path));
        Assert.Same(list, list[0]);
        Assert.Contains("...", PyFormat.Repr(list));
    }

    [Fact]
    public void Absurdly_nested_values_are_rejected_not_a_stack_overflow()
    {
        using var temp = TestPaths.NewTempDir();
        const int depth = 100_000;
        var pkl = new List<byte> { 0x80, 2 };
        pkl.AddRange(Enumerable.Repeat((byte)']', depth));
        pkl.AddRange(Enumerable.Repeat((byte)'a', depth - 1));
        pkl.Add((byte)'.');
        var path = WriteArchive(temp, pkl.ToArray());
        Assert.Contains("nested", Assert.Throws<InvalidInputException>(() => TorchLoad.LoadFile(path)).Message);
    }
}
