using System.Runtime.InteropServices;

namespace MegatronBridge.Benchmarks;

/// <summary>
/// Puts every phase on the same footing: dirty pages flushed, clean pages dropped where allowed (root), and the size of
/// the page cache, so the bench knows how much memory a drop gave back.
/// </summary>
internal static partial class PageCache
{
    [LibraryImport("libc", EntryPoint = "sync")]
    private static partial void NativeSync();

    public static void Sync()
    {
        if (OperatingSystem.IsLinux()) NativeSync();
    }

    /// <summary>Bytes of file data in the page cache (<c>Cached</c> of /proc/meminfo); 0 where that is not available.</summary>
    public static long CachedBytes()
    {
        try { return OperatingSystem.IsLinux() ? ParseCachedBytes(File.ReadAllText("/proc/meminfo")) : 0; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 0; }
    }

    /// <summary>The <c>Cached:</c> line of a /proc/meminfo text, in bytes (the file gives kB); 0 if it has none.</summary>
    internal static long ParseCachedBytes(string meminfo)
    {
        foreach (var line in meminfo.Split('\n'))
        {
            if (!line.StartsWith("Cached:", StringComparison.Ordinal)) continue;
            var fields = line["Cached:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields.Length > 0 && long.TryParse(fields[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var kb) ? kb * 1024 : 0;
        }
        return 0;
    }

    /// <summary>Flushes and asks the kernel to drop the page cache; false when that is not permitted.</summary>
    public static bool SyncAndDrop()
    {
        Sync();
        try
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "1");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }
}
