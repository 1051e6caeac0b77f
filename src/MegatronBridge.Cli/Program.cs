using System.CommandLine;
using MegatronBridge.Cli.Commands;

namespace MegatronBridge.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        using var cleanup = InterruptCleanup.Register(Console.Error);
        return BuildRoot().Parse(args).Invoke();
    }

    /// <summary>The command tree; one file per command under Commands/.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("megatron-bridge: move Qwen3.5 / Qwen3.6 / Qwen3-VL checkpoints between Hugging Face and Megatron-Core, offline, and prove nothing was lost.");
        foreach (var command in CommandRegistry.All()) root.Subcommands.Add(command);
        return root;
    }
}
