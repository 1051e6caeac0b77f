using System.CommandLine;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// Hidden <c>--write-step-delay-ms N</c> of import and export: sleeps N ms (at most 10 s) after every progress step
/// of the conversion, so the interruption tests can kill a conversion of a tiny fixture while it is still writing.
/// It only slows the run down; the output is the same. Off (0) unless given.
/// </summary>
internal static class WriteStepDelayOption
{
    public const string Name = "--write-step-delay-ms";

    public static Option<int> Create() =>
        new(Name) { Description = "Sleep N ms after every write step (for interruption tests).", Hidden = true };

    /// <summary><paramref name="progress"/> followed by a sleep of <paramref name="delayMs"/>, or unchanged when it is 0 or less.</summary>
    public static Action<long, long>? Slow(Action<long, long>? progress, int delayMs)
    {
        if (delayMs <= 0) return progress;
        int ms = Math.Min(delayMs, 10_000);
        return (done, total) =>
        {
            progress?.Invoke(done, total);
            Thread.Sleep(ms);
        };
    }
}
