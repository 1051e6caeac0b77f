using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.IO;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// Turns the failures a user can cause (bad input, existing output, unsupported model) into "&lt;command&gt;: message"
/// and exit code 1 (or the command's own documented input-error code). Anything else is a bug in megatron-bridge: it
/// is reported as one, with its stack trace, and exit code 70 (EX_SOFTWARE), never as an unexplained crash and never
/// silently. Under <c>--json</c> the same report is one JSON object on stderr.
/// </summary>
internal static class CommandErrors
{
    public const int InputErrorExitCode = 1;
    public const int InternalErrorExitCode = 70;

    /// <param name="inputErrorExitCode">Exit code for a user-caused failure; compare and generate document 2 (their 1 means something else).</param>
    /// <param name="json">Report the error as one JSON object (<c>--json</c>).</param>
    public static int Run(string command, TextWriter error, Func<int> body, int inputErrorExitCode = InputErrorExitCode, bool json = false)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsInputError(e))
        {
            WaitIfInterrupted();
            var message = e.Message;
            if (json) WriteJson(error, command, "input", message, inputErrorExitCode, trace: null);
            else error.WriteLine($"{command}: {message}");
            return inputErrorExitCode;
        }
        catch (Exception e) when (e is not (OutOfMemoryException or StackOverflowException or AccessViolationException))
        {
            WaitIfInterrupted();
            if (json)
            {
                WriteJson(error, command, "internal", $"internal error ({e.GetType().Name}): {e.Message}", InternalErrorExitCode, e.ToString());
                return InternalErrorExitCode;
            }
            error.WriteLine($"{command}: internal error ({e.GetType().Name}): {e.Message}");
            error.WriteLine("This is a bug in megatron-bridge, not a problem with your files; please report it with the trace below.");
            error.WriteLine(e.ToString());
            return InternalErrorExitCode;
        }
    }

    /// <summary>
    /// After SIGINT / SIGTERM the failure is the signal handler removing the partial output under a writer: the handler
    /// reports it and the signal ends the process, so this thread says nothing and waits for that.
    /// </summary>
    private static void WaitIfInterrupted()
    {
        if (MegatronBridge.Jobs.ConversionProgress.Halted) Thread.Sleep(Timeout.Infinite);
    }

    private static void WriteJson(TextWriter error, string command, string kind, string message, int exitCode, string? trace)
    {
        var report = new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["command"] = command,
                ["kind"] = kind,
                ["message"] = message,
                ["exit_code"] = exitCode,
            },
        };
        if (trace != null) ((JsonObject)report["error"]!)["trace"] = trace;
        error.WriteLine(report.ToJsonString());
    }

    /// <summary>
    /// The user's fault: input that validation refused (<see cref="InvalidInputException"/>, thrown at every layer),
    /// and the operating system's own failures on a path the user named (not found, unreadable, not a file, disk
    /// full). Every other exception type, <see cref="ArgumentException"/> and <see cref="KeyNotFoundException"/>
    /// included, is a bug.
    /// </summary>
    internal static bool IsInputError(Exception e) =>
        e is InvalidInputException or IOException or UnauthorizedAccessException;
}
