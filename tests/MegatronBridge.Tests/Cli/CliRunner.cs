using System.CommandLine;
using MegatronBridge.Cli;

namespace MegatronBridge.Tests.Cli;

/// <summary>Runs megatron-bridge in-process with stdout and stderr captured.</summary>
internal static class CliRunner
{
    public static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = Program.BuildRoot().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, output.ToString(), error.ToString());
    }
}
