using System.Buffers;

namespace MegatronBridge.Benchmarks;

/// <summary>The physical limit of the disk: every file of a folder copied with large sequential reads and writes.</summary>
public static class RawCopy
{
    public static long CopyFolder(string source, string destination, int bufferBytes = 16 << 20)
    {
        Directory.CreateDirectory(destination);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bufferBytes);
        long total = 0;
        try
        {
            foreach (string file in Directory.EnumerateFiles(source))
            {
                using var input = File.OpenHandle(file, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
                long length = RandomAccess.GetLength(input);
                using var output = File.OpenHandle(Path.Combine(destination, Path.GetFileName(file)), FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None, length);
                for (long offset = 0; offset < length;)
                {
                    int read = RandomAccess.Read(input, buffer.AsSpan(0, (int)Math.Min(bufferBytes, length - offset)), offset);
                    if (read == 0) throw new IOException($"{file}: file ended at {offset} of {length} bytes while copying");
                    RandomAccess.Write(output, buffer.AsSpan(0, read), offset);
                    offset += read;
                }
                total += length;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return total;
    }
}
