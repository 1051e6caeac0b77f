using System.CommandLine;

namespace MegatronBridge.Cli.Commands;

/// <summary>Every subcommand of megatron-bridge. Adding a command is adding one line here.</summary>
internal static class CommandRegistry
{
    public static IEnumerable<Command> All()
    {
        yield return VersionCommand.Create();
        yield return InspectCommand.Create();
        yield return ImportCommand.Create();
        yield return ExportCommand.Create();
        yield return CompareCommand.Create();
        yield return GenerateCommand.Create();
        yield return VerifyCommand.Create();
        yield return BenchCommand.Create();
    }
}
