namespace MegatronBridge.Conversion.Checkpoints;

/// <summary>Reports bytes written as a conversion goes, for progress bars; thread-safe.</summary>
public sealed class ConversionProgress
{
    /// <summary>
    /// Test hook: MEGATRON_BRIDGE_TEST_WRITE_DELAY_MS=N sleeps N ms at every progress step, so interruption tests can
    /// kill a conversion of a tiny fixture while it is writing. Unset (the default) costs nothing.
    /// </summary>
    public const string WriteDelayVariable = "MEGATRON_BRIDGE_TEST_WRITE_DELAY_MS";

    private static readonly int WriteDelayMs =
        int.TryParse(Environment.GetEnvironmentVariable(WriteDelayVariable), out var ms) && ms > 0 ? Math.Min(ms, 10_000) : 0;

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
        if (WriteDelayMs > 0) Thread.Sleep(WriteDelayMs);
    }
}
