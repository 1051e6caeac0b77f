namespace MegatronBridge.Benchmarks;

/// <summary>
/// Samples this process's anonymous resident memory (RssAnon in /proc/self/status) on a timer thread and keeps the
/// peak: VmHWM cannot be reset between phases, so each phase gets its own sampled peak. Reports 0 where /proc is absent.
/// </summary>
internal sealed class MemorySampler : IDisposable
{
    private readonly Thread thread;
    private readonly ManualResetEventSlim stop = new(false);
    private readonly TimeSpan interval;
    private long peakBytes;

    private MemorySampler(TimeSpan interval)
    {
        this.interval = interval;
        peakBytes = ReadRssAnonBytes();
        thread = new Thread(Run) { IsBackground = true, Name = "bench-memory-sampler" };
        thread.Start();
    }

    public static MemorySampler Start(TimeSpan? interval = null) => new(interval ?? TimeSpan.FromMilliseconds(20));

    public long PeakBytes => Interlocked.Read(ref peakBytes);

    private void Run()
    {
        while (!stop.Wait(interval)) Observe();
    }

    private void Observe()
    {
        long now = ReadRssAnonBytes();
        long seen;
        while (now > (seen = Interlocked.Read(ref peakBytes)) && Interlocked.CompareExchange(ref peakBytes, now, seen) != seen) { }
    }

    /// <summary>RssAnon of this process in bytes, or 0 when it cannot be read.</summary>
    public static long ReadRssAnonBytes()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith("RssAnon:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length >= 2 && long.TryParse(parts[1], out long kb) ? kb * 1024 : 0;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }

    public void Dispose()
    {
        stop.Set();
        thread.Join();
        Observe();
        stop.Dispose();
    }
}
