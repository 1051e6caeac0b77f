using System.CommandLine;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// <c>--stream-layers</c>, kept so that existing scripts still run: it has no effect, because <c>compare</c> and
/// <c>generate</c> always read the weights from disk as the forward reaches them.
/// </summary>
internal static class StreamLayersOption
{
    public static Option<bool> Create() => new("--stream-layers")
    {
        Description = "No effect (kept for old scripts): weights are always read from disk as the forward reaches them.",
        Hidden = true,
    };
}
