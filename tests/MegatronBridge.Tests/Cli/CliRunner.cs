using System.CommandLine;
using MegatronBridge.Cli;

namespace MegatronBridge.Tests.Cli;

/// <summary>Runs megatron-bridge in-process with stdout and stderr captured.</summary>
internal static class CliRunner
{
    public static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var (exitCode, error) = RunWithOutput(output, args);
        return (exitCode, output.ToString(), error);
    }

    /// <summary>Runs with <paramref name="output"/> as stdout (e.g. one that fails); returns the exit code and stderr.</summary>
    public static (int ExitCode, string Error) RunWithOutput(TextWriter output, params string[] args)
    {
        var error = new StringWriter();
        var exitCode = Program.BuildRoot().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, error.ToString());
    }
}
