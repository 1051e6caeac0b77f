namespace MegatronBridge.Cli.Commands;

/// <summary>Turns the failures a user can cause (bad input, existing output, unsupported model) into a message and exit code 1.</summary>
internal static class CommandErrors
{
    public static int Run(string command, TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException
                                       or ArgumentException or KeyNotFoundException or FormatException)
        {
            error.WriteLine($"{command}: {e.Message}");
            return 1;
        }
    }
}
