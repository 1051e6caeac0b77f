using System.Runtime.InteropServices;

namespace MegatronBridge.Benchmarks;

/// <summary>Puts every phase on the same footing: dirty pages flushed, and clean pages dropped where allowed (root).</summary>
internal static partial class PageCache
{
    [LibraryImport("libc", EntryPoint = "sync")]
    private static partial void NativeSync();

    public static void Sync()
    {
        if (OperatingSystem.IsLinux()) NativeSync();
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
