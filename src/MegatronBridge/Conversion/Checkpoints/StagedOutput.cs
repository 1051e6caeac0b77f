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
        RemoveAbandonedStaging(parent, Path.GetFileName(full));
        var staging = Path.Combine(parent, $".{Path.GetFileName(full)}.partial-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        return new StagedOutput(full, staging);
    }

    /// <summary>
    /// Deletes staging folders for the same target left by runs that were killed: their name carries the writing
    /// process id, and that process no longer exists. Folders of live runs are left alone.
    /// </summary>
    private static void RemoveAbandonedStaging(string parent, string name)
    {
        var prefix = $".{name}.partial-";
        foreach (var dir in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            var rest = Path.GetFileName(dir)[prefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], out var pid) || IsRunning(pid)) continue;
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Another run may be cleaning it up at the same moment; it never looks finished either way.
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
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
