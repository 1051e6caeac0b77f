using MegatronBridge.Conversion;

namespace MegatronBridge.Jobs;

/// <summary>Reports bytes written as a conversion goes, for progress bars; thread-safe.</summary>
internal sealed class ConversionProgress
{
    private long _done;

    public ConversionProgress(long totalBytes, Action<long, long>? onProgress = null)
    {
        TotalBytes = totalBytes;
        OnProgress = onProgress;
    }

    public long TotalBytes { get; }
    public long DoneBytes => Interlocked.Read(ref _done);
    private Action<long, long>? OnProgress { get; }

    private static volatile bool _halted;

    /// <summary>
    /// Parks every writer at its next step, for good: called on SIGINT / SIGTERM just before the partial output is
    /// removed, so no writer recreates it while the process ends.
    /// </summary>
    public static void HaltAll() => _halted = true;

    /// <summary>Whether <see cref="HaltAll"/> was called: the process is ending on a signal.</summary>
    public static bool Halted => _halted;

    public void Add(long bytes)
    {
        if (_halted) Thread.Sleep(Timeout.Infinite);
        var done = Interlocked.Add(ref _done, bytes);
        OnProgress?.Invoke(done, TotalBytes);
    }
}
