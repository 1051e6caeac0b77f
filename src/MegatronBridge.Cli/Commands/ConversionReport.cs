using System.Globalization;
using MegatronBridge.Jobs;
using Spectre.Console;

namespace MegatronBridge.Cli.Commands;

/// <summary>Progress bar with bytes/s while a conversion streams, and the summary table after it.</summary>
internal static class ConversionReport
{
    /// <summary>Runs <paramref name="job"/> with a progress bar on an interactive terminal, silently otherwise.</summary>
    public static T WithProgress<T>(TextWriter output, string title, bool quiet, Func<Action<long, long>?, T> job) =>
        WithProgress(output, null, title, quiet, job);

    /// <summary>
    /// Runs <paramref name="job"/> with a progress bar on an interactive terminal; otherwise, unless
    /// <paramref name="quiet"/>, with a plain progress line on <paramref name="error"/> every
    /// <see cref="PlainProgress.DefaultInterval"/> (a batch job's log).
    /// </summary>
    public static T WithProgress<T>(TextWriter output, TextWriter? error, string title, bool quiet, Func<Action<long, long>?, T> job)
    {
        if (quiet) return job(null);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        if (!console.Profile.Capabilities.Interactive)
        {
            if (error == null) return job(null);
            var plain = new PlainProgress(error, title, PlainProgress.DefaultInterval);
            return job(plain.Report);
        }
        T result = default!;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(title, maxValue: 1);
                result = job((done, total) =>
                {
                    task.MaxValue = Math.Max(1, total);
                    task.Value = done;
                });
                task.Value = task.MaxValue;
            });
        return result;
    }

    /// <summary>Writes each warning as "command: warning: ..." on stderr.</summary>
    public static void Warnings(TextWriter error, string command, IEnumerable<string> warnings)
    {
        foreach (var w in warnings) error.WriteLine($"{command}: warning: {w}");
    }

    public static void Summary(TextWriter output, string title, IEnumerable<(string Name, string Value)> rows)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        var table = new Table().Title(title).AddColumn("").AddColumn("");
        table.HideHeaders();
        foreach (var (name, value) in rows) table.AddRow(Markup.Escape(name), Markup.Escape(value));
        console.Write(table);
    }

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    public static string Rate(long bytes, TimeSpan elapsed) =>
        elapsed.TotalSeconds > 0 ? Bytes((long)(bytes / elapsed.TotalSeconds)) + "/s" : "-";

    /// <summary>The "time" row: seconds and throughput.</summary>
    public static string Time(long bytes, TimeSpan elapsed) =>
        elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + $" s ({Rate(bytes, elapsed)})";

    /// <summary>The format as --format spells it (and as the JSON results report it).</summary>
    public static string FormatName(MegatronFormat format) => format == MegatronFormat.Torch ? "torch" : "torch_dist";
}
