using System.Buffers;

namespace MegatronBridge.Benchmarks;

/// <summary>
/// The physical limit of the disk: every file of a folder (and its subfolders) copied with large sequential reads and writes, the next
/// block read while the current one is written (the same overlap the converters get, so the baseline is not a
/// strawman that leaves the disk idle half the time).
/// </summary>
internal static class RawCopy
{
    public static long CopyFolder(string source, string destination, int bufferBytes = 32 << 20)
    {
        Directory.CreateDirectory(destination);
        byte[] current = ArrayPool<byte>.Shared.Rent(bufferBytes);
        byte[] next = ArrayPool<byte>.Shared.Rent(bufferBytes);
        long total = 0;
        try
        {
            foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                string copy = Path.Combine(destination, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                using var input = File.OpenHandle(file, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
                long length = RandomAccess.GetLength(input);
                using var output = File.OpenHandle(copy, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None, length);
                int ReadBlock(byte[] into, long at)
                {
                    int want = (int)Math.Min(bufferBytes, length - at);
                    int got = 0;
                    while (got < want)
                    {
                        int read = RandomAccess.Read(input, into.AsSpan(got, want - got), at + got);
                        if (read == 0) throw new IOException($"{file}: file ended at {at + got} of {length} bytes while copying");
                        got += read;
                    }
                    return got;
                }
                long offset = 0;
                int filled = length > 0 ? ReadBlock(current, 0) : 0;
                while (filled > 0)
                {
                    long nextOffset = offset + filled;
                    byte[] target = next;
                    var reading = nextOffset < length ? Task.Run(() => ReadBlock(target, nextOffset)) : Task.FromResult(0);
                    RandomAccess.Write(output, current.AsSpan(0, filled), offset);
                    filled = reading.GetAwaiter().GetResult();
                    offset = nextOffset;
                    (current, next) = (next, current);
                }
                total += length;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(current);
            ArrayPool<byte>.Shared.Return(next);
        }
        return total;
    }
}
