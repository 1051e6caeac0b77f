using System.Runtime.InteropServices;
using MegatronBridge.Jobs;

namespace MegatronBridge.Cli.Commands;

/// <summary>
/// On SIGINT or SIGTERM, removes the hidden partial output of the conversion under way and says so in one line on
/// stderr; the process then ends as the signal asks (the handler does not cancel it).
/// </summary>
internal static class InterruptCleanup
{
    public static IDisposable Register(TextWriter error)
    {
        var registrations = new List<PosixSignalRegistration>();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            try
            {
                registrations.Add(PosixSignalRegistration.Create(signal, context => OnSignal(context, error)));
            }
            catch (PlatformNotSupportedException)
            {
                // Not every platform has both signals; the staging folder still never looks finished.
            }
        }
        return new Registrations(registrations);
    }

    private static void OnSignal(PosixSignalContext context, TextWriter error)
    {
        var targets = StagedOutput.AbandonAll();
        var name = context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM";
        error.WriteLine(targets.Count == 0
            ? $"megatron-bridge: interrupted ({name})"
            : $"megatron-bridge: interrupted ({name}); removed the partial output for {string.Join(", ", targets)}");
        error.Flush();
    }

    private sealed class Registrations(List<PosixSignalRegistration> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var r in items) r.Dispose();
        }
    }
}
