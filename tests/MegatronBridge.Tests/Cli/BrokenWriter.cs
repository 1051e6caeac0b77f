using System.Text;

namespace MegatronBridge.Tests.Cli;

/// <summary>
/// Standard output that fails with a NullReferenceException on the first write: an exception no user input can cause,
/// raised inside a command after its input was read, as a bug in the command would be.
/// </summary>
internal sealed class BrokenWriter : TextWriter
{
    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value) => throw new NullReferenceException("broken output (test)");
}
