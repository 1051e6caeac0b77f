namespace MegatronBridge.Conversion.Checkpoints;

/// <summary>
/// An output folder built under a temporary sibling name and moved into place only when complete, so an interrupted
/// run never leaves anything that looks finished. Existing output is replaced only when <c>force</c> is given.
/// </summary>
public sealed class StagedOutput : IDisposable
{
    private bool _committed;

    private StagedOutput(string target, string staging)
    {
        Target = target;
        Staging = staging;
    }

    /// <summary>The final path.</summary>
    public string Target { get; }

    /// <summary>Where to write meanwhile: a hidden sibling of <see cref="Target"/>.</summary>
    public string Staging { get; }

    public static StagedOutput Begin(string target, bool force)
    {
        var full = Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
        if (File.Exists(full)) throw new IOException($"{target}: exists and is a file");
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any() && !force)
            throw new IOException($"{target}: already exists; pass --force to replace it");
        var parent = Path.GetDirectoryName(full) ?? throw new IOException($"{target}: has no parent folder");
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(full)}.partial-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        return new StagedOutput(full, staging);
    }

    /// <summary>Moves the finished folder into place (replacing an old one, which --force allowed at Begin).</summary>
    public void Commit()
    {
        if (Directory.Exists(Target))
        {
            // Move the old output aside first, then swap: there is never a moment with a half-deleted target.
            var old = Path.Combine(Path.GetDirectoryName(Target)!, $".{Path.GetFileName(Target)}.old-{Guid.NewGuid():N}");
            Directory.Move(Target, old);
            Directory.Move(Staging, Target);
            Directory.Delete(old, recursive: true);
        }
        else
        {
            Directory.Move(Staging, Target);
        }
        _committed = true;
    }

    public void Dispose()
    {
        if (_committed) return;
        try
        {
            if (Directory.Exists(Staging)) Directory.Delete(Staging, recursive: true);
        }
        catch (IOException)
        {
            // Leave the hidden partial folder; it never looks like a finished checkpoint.
        }
    }
}
