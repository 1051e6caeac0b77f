namespace MegatronBridge.Conversion.Checkpoints;

/// <summary>Reports bytes written as a conversion goes, for progress bars; thread-safe.</summary>
public sealed class ConversionProgress
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

    public void Add(long bytes)
    {
        var done = Interlocked.Add(ref _done, bytes);
        OnProgress?.Invoke(done, TotalBytes);
    }
}
