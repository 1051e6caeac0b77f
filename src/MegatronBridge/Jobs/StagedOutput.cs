using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using MegatronBridge.Conversion;
using MegatronBridge.IO;

namespace MegatronBridge.Jobs;

/// <summary>
/// An output folder built under a hidden sibling name and moved into place only when complete, so an interrupted run
/// never leaves anything that looks finished. Before anything is written it refuses an output that equals, contains
/// or lies inside an input (real paths, symlinks resolved), with or without <c>force</c>; an output that is a file or a
/// symlink; and an existing non-empty folder unless <c>force</c> is given and the folder is recognisably an output of
/// the same kind. The final move never replaces what was not checked: it is a no-replace rename, and a replaced
/// folder is first moved aside and compared with the one checked at the start. The old folder is deleted only after
/// the new one is in place; failing to delete it is a warning.
/// </summary>
internal sealed partial class StagedOutput : IDisposable
{
    private static readonly ConcurrentDictionary<StagedOutput, byte> Live = new();

    /// <summary>This machine's name as it appears in staging folder names (so a shared filesystem's other nodes are told apart).</summary>
    public static string HostTag { get; } = Sanitize(Environment.MachineName);

    private readonly NativeFileSystem.FileIdentity? _checkedOld;
    private readonly bool _replaceOld;
    private readonly bool _emptyFolderThere;
    private bool _committed;

    private StagedOutput(string target, string staging, bool replaceOld, bool emptyFolderThere, NativeFileSystem.FileIdentity? checkedOld)
    {
        Target = target;
        Staging = staging;
        _replaceOld = replaceOld;
        _emptyFolderThere = emptyFolderThere;
        _checkedOld = checkedOld;
    }

    /// <summary>The final path.</summary>
    public string Target { get; }

    /// <summary>Where to write meanwhile: a hidden sibling of <see cref="Target"/>.</summary>
    public string Staging { get; }

    /// <param name="target">The output folder as the user gave it.</param>
    /// <param name="force">Replace an existing output of the same <paramref name="kind"/>.</param>
    /// <param name="kind">What is written, so only that kind of folder is replaced.</param>
    /// <param name="inputs">Every folder or file the run reads; the output may not equal, contain or lie inside any.</param>
    public static StagedOutput Begin(string target, bool force, OutputKind kind, IEnumerable<string> inputs)
    {
        var full = Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
        if (full.Length == 0) throw new IOException($"{target}: the filesystem root cannot be an output folder");
        var real = RealPath.Resolve(full);
        foreach (var input in inputs)
        {
            var realInput = RealPath.Resolve(input);
            if (RealPath.IsSameOrInside(real, realInput))
                throw new IOException(real == realInput
                    ? $"{target}: is the input {input}; writing there would destroy it (with or without --force)"
                    : $"{target}: lies inside the input {input}; refusing to write into an input (with or without --force)");
            if (RealPath.IsSameOrInside(realInput, real))
                throw new IOException($"{target}: contains the input {input}; replacing it would destroy the input (with or without --force)");
        }
        var link = new FileInfo(full).LinkTarget;
        if (link != null)
        {
            bool dangling = OperatingSystem.IsLinux() ? NativeFileSystem.Identify(full, followSymlink: true) == null : !Path.Exists(real);
            throw new IOException(!dangling
                ? $"{target}: is a symbolic link (to {link}); give the folder it points to, or another path"
                : $"{target}: is a dangling symbolic link (to {link}, which does not exist); remove it or choose another output");
        }
        if (File.Exists(full)) throw new IOException($"{target}: exists and is a file");

        bool replaceOld = false, emptyFolderThere = false;
        NativeFileSystem.FileIdentity? checkedOld = null;
        if (Directory.Exists(full))
        {
            if (!Directory.EnumerateFileSystemEntries(full).Any())
            {
                emptyFolderThere = true;
            }
            else
            {
                if (!force) throw new IOException($"{target}: already exists; pass --force to replace it");
                if (OutputRecognition.WhyNot(full, kind) is { } why) throw new IOException($"{target}: {why}");
                replaceOld = true;
                checkedOld = OperatingSystem.IsLinux() ? NativeFileSystem.Identify(full) : null;
            }
        }
        var parent = Path.GetDirectoryName(full) ?? throw new IOException($"{target}: has no parent folder");
        Directory.CreateDirectory(parent);
        RemoveAbandonedStaging(parent, Path.GetFileName(full));
        var staging = Path.Combine(parent, $".{Path.GetFileName(full)}.partial-{HostTag}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        var staged = new StagedOutput(full, staging, replaceOld, emptyFolderThere, checkedOld);
        Live[staged] = 0;
        return staged;
    }

    [GeneratedRegex(@"^(?<host>.+)-(?<pid>\d{1,10})-(?<id>[0-9a-f]{32})(\..*)?$")]
    private static partial Regex StagingSuffix();

    /// <summary>
    /// Deletes staging folders for the same target left by killed runs of this machine: their name carries the host
    /// and the process id, and that process no longer runs here. Folders of live runs, of other machines (a shared
    /// filesystem) and of unknown naming are left alone.
    /// </summary>
    private static void RemoveAbandonedStaging(string parent, string name)
    {
        var prefix = $".{name}.partial-";
        foreach (var dir in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            var match = StagingSuffix().Match(Path.GetFileName(dir)[prefix.Length..]);
            if (!match.Success || match.Groups["host"].Value != HostTag) continue;
            if (!int.TryParse(match.Groups["pid"].Value, out var pid) || IsRunning(pid)) continue;
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
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

    /// <summary>
    /// Moves the finished folder into place without replacing anything that was not checked at <see cref="Begin"/>.
    /// Returns a warning when the replaced old folder could not be deleted afterwards (the new output is in place).
    /// </summary>
    public string? Commit()
    {
        string? warning = null;
        if (_replaceOld) warning = ReplaceOld();
        else
        {
            if (_emptyFolderThere)
            {
                // An empty folder was there: remove it only if it is still empty (rmdir refuses otherwise).
                try { Directory.Delete(Target, recursive: false); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
            if (!NativeFileSystem.MoveDirectoryNoReplace(Staging, Target)) throw AppearedMeanwhile();
        }
        _committed = true;
        Live.TryRemove(this, out _);
        return warning;
    }

    private string? ReplaceOld()
    {
        var aside = Path.Combine(Path.GetDirectoryName(Target)!, $".{Path.GetFileName(Target)}.old-{HostTag}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        bool movedAside;
        try
        {
            movedAside = NativeFileSystem.MoveDirectoryNoReplace(Target, aside);
        }
        catch (IOException) when (!Path.Exists(Target))
        {
            movedAside = false; // the old folder went away meanwhile: nothing to replace
        }
        if (movedAside && _checkedOld != null && NativeFileSystem.Identify(aside) != _checkedOld)
        {
            // Not the folder checked at the start (another run replaced it meanwhile): put it back, touch nothing.
            NativeFileSystem.MoveDirectoryNoReplace(aside, Target);
            throw new IOException($"{Target}: was replaced by another folder while this run was writing (another run?); it was left as it is and this run's output was discarded");
        }
        if (!NativeFileSystem.MoveDirectoryNoReplace(Staging, Target))
        {
            throw new IOException(movedAside
                ? $"{Target}: something was created there while this run was writing (another run?); it was left as it is, this run's output was discarded, and the folder it was to replace is now {aside}"
                : AppearedMeanwhile().Message);
        }
        if (!movedAside) return null;
        try
        {
            Directory.Delete(aside, recursive: true);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{aside}: the replaced output could not be deleted ({e.Message}); the new output is in place at {Target}; remove the old one yourself";
        }
    }

    private IOException AppearedMeanwhile() =>
        new($"{Target}: something was created there while this run was writing (another run?); it was left as it is and this run's output was discarded");

    /// <summary>
    /// Removes the staging folders of every run in this process that has not committed (on SIGINT / SIGTERM), and
    /// returns the final paths they were for. The folder is first renamed, so writers still running cannot add to it.
    /// </summary>
    public static IReadOnlyList<string> AbandonAll()
    {
        ConversionProgress.HaltAll();
        var abandoned = new List<StagedOutput>();
        foreach (var staged in Live.Keys)
        {
            if (!Live.TryRemove(staged, out _)) continue;
            abandoned.Add(staged);
            staged.RemoveStaging();
        }
        // A writer between two progress steps may still create a folder under the staging path: look again briefly.
        for (int round = 0; round < 10 && abandoned.Count > 0; round++)
        {
            Thread.Sleep(20);
            foreach (var staged in abandoned) staged.RemoveStaging();
        }
        return abandoned.Select(s => s.Target).ToList();
    }

    private void RemoveStaging()
    {
        try
        {
            if (!Directory.Exists(Staging)) return;
            var doomed = $"{Staging}.removing-{Guid.NewGuid():N}";
            Directory.Move(Staging, doomed);
            for (int attempt = 0; attempt < 5; attempt++)
            {
                try
                {
                    Directory.Delete(doomed, recursive: true);
                    return;
                }
                catch (IOException) when (attempt < 4)
                {
                    Thread.Sleep(20); // a writer thread was still closing a file in it
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Leave the hidden partial folder; it never looks like a finished checkpoint, and a later run of this
            // machine removes it once this process is gone.
        }
    }

    public void Dispose()
    {
        if (_committed) return;
        if (Live.TryRemove(this, out _)) RemoveStaging();
    }

    private static string Sanitize(string host)
    {
        var chars = host.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray();
        return chars.Length == 0 ? "unknown" : new string(chars);
    }
}
