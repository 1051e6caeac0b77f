namespace MegatronBridge.IO;

/// <summary>
/// Absolute paths with every symlink resolved, component by component, as the kernel would follow them; a path (or
/// its tail) that does not exist yet is kept as written. Used to tell whether an output lies on an input.
/// </summary>
internal static class RealPath
{
    private const int MaxLinks = 40;

    public static string Resolve(string path)
    {
        var pending = new Queue<string>(Split(Path.GetFullPath(path)));
        var current = Path.GetPathRoot(Path.GetFullPath(path)) ?? "/";
        int links = 0;
        while (pending.Count > 0)
        {
            var part = pending.Dequeue();
            var next = Path.Combine(current, part);
            string? target = null;
            try { target = new FileInfo(next).LinkTarget; }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            if (target == null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks) throw new IOException($"{path}: too many levels of symbolic links");
            // Resolve the link text against the folder holding the link, then walk the rest after it.
            var resolved = Path.GetFullPath(Path.IsPathRooted(target) ? target : Path.Combine(current, target));
            var rest = pending.ToList();
            pending = new Queue<string>(Split(resolved).Concat(rest));
            current = Path.GetPathRoot(resolved) ?? "/";
        }
        return current;
    }

    /// <summary>Whether <paramref name="inner"/> equals <paramref name="outer"/> or lies inside it (both already resolved).</summary>
    public static bool IsSameOrInside(string inner, string outer)
    {
        var a = inner.TrimEnd(Path.DirectorySeparatorChar);
        var b = outer.TrimEnd(Path.DirectorySeparatorChar);
        if (b.Length == 0) return true; // the root holds everything
        return string.Equals(a, b, StringComparison.Ordinal)
            || a.StartsWith(b + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    private static string[] Split(string full) =>
        full[(Path.GetPathRoot(full)?.Length ?? 0)..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
}
