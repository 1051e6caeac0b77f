using System.Text.Json;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// Turns the failures a user can cause (bad input, existing output, unsupported model) into "&lt;command&gt;: message"
/// and exit code 1 (or the command's own documented input-error code). Anything else is a bug in megatron-bridge: it
/// is reported as one, with its stack trace, and exit code 70 (EX_SOFTWARE), never as an unexplained crash and never
/// silently.
/// </summary>
internal static class CommandErrors
{
    public const int InputErrorExitCode = 1;
    public const int InternalErrorExitCode = 70;

    /// <param name="inputErrorExitCode">Exit code for a user-caused failure; compare and generate document 2 (their 1 means something else).</param>
    public static int Run(string command, TextWriter error, Func<int> body, int inputErrorExitCode = InputErrorExitCode)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsInputError(e))
        {
            error.WriteLine($"{command}: {e.Message}");
            return inputErrorExitCode;
        }
        catch (Exception e) when (e is not (OutOfMemoryException or StackOverflowException or AccessViolationException))
        {
            error.WriteLine($"{command}: internal error ({e.GetType().Name}): {e.Message}");
            error.WriteLine("This is a bug in megatron-bridge, not a problem with your files; please report it with the trace below.");
            error.WriteLine(e.ToString());
            return InternalErrorExitCode;
        }
    }

    private static bool IsInputError(Exception e) =>
        e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException
            or ArgumentException or KeyNotFoundException or FormatException or JsonException;
}
