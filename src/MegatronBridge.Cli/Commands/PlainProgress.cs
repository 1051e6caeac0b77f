using System.Globalization;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// Progress for a log file (stderr not a terminal, e.g. a batch job): one plain line per interval with percent, bytes,
/// rate and estimated time left, instead of a progress bar nobody sees. Thread-safe; the first line comes one interval
/// after the start, so short runs print nothing.
/// </summary>
internal sealed class PlainProgress
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

    private readonly TextWriter _writer;
    private readonly string _title;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly long _start;
    private readonly Lock _lock = new();
    private long _lastLine;

    public PlainProgress(TextWriter writer, string title, TimeSpan interval, TimeProvider? time = null)
    {
        _writer = writer;
        _title = title;
        _time = time ?? TimeProvider.System;
        _interval = interval;
        _start = _lastLine = _time.GetTimestamp();
    }

    public void Report(long done, long total)
    {
        lock (_lock)
        {
            long now = _time.GetTimestamp();
            if (_time.GetElapsedTime(_lastLine, now) < _interval) return;
            _lastLine = now;
            _writer.WriteLine(Line(done, total, _time.GetElapsedTime(_start, now)));
            _writer.Flush();
        }
    }

    private string Line(long done, long total, TimeSpan elapsed)
    {
        double fraction = total > 0 ? Math.Clamp(done / (double)total, 0, 1) : 0;
        double rate = elapsed.TotalSeconds > 0 ? done / elapsed.TotalSeconds : 0;
        string eta = rate > 0 && total >= done ? Duration(TimeSpan.FromSeconds((total - done) / rate)) : "unknown";
        var percent = (fraction * 100).ToString("0.0", CultureInfo.InvariantCulture);
        return $"{_title}: {percent}% {ConversionReport.Bytes(done)} of {ConversionReport.Bytes(total)}, {ConversionReport.Bytes((long)rate)}/s, ETA {eta}";
    }

    private static string Duration(TimeSpan t) =>
        t.TotalHours >= 1
            ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}"
            : $"{t.Minutes}:{t.Seconds:00}";
}
