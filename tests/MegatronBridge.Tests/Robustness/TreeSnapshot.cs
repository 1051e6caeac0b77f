using System.Security.Cryptography;
using MegatronBridge.IO;
using Xunit;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// The SHA-256 of every regular file under a folder (symlinks recorded by their target, not followed), to prove that
/// a run left every file that existed before it byte-identical.
/// </summary>
internal sealed class TreeSnapshot
{
    private readonly string _root;
    private readonly Dictionary<string, string> _entries;

    private TreeSnapshot(string root, Dictionary<string, string> entries)
    {
        _root = root;
        _entries = entries;
    }

    public int Count => _entries.Count;

    public static TreeSnapshot Take(string root)
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        Walk(root, root, entries);
        return new TreeSnapshot(root, entries);
    }

    private static void Walk(string root, string folder, Dictionary<string, string> entries)
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries(folder))
        {
            var info = new FileInfo(entry);
            var relative = Path.GetRelativePath(root, entry);
            if (info.LinkTarget is { } target) entries[relative] = "link:" + target;
            else if (Directory.Exists(entry)) Walk(root, entry, entries);
            else if (OperatingSystem.IsLinux() && NativeFileSystem.Identify(entry) is { Kind: not NativeFileSystem.UnixFileKind.Regular } special)
                entries[relative] = "special:" + special.Kind; // a FIFO is never read
            else entries[relative] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(entry)));
        }
    }

    /// <summary>Asserts that every file of this snapshot is still there with the same bytes (new files are allowed).</summary>
    public void AssertAllPreserved(string? because = null)
    {
        var now = Take(_root)._entries;
        foreach (var (path, hash) in _entries)
        {
            Assert.True(now.TryGetValue(path, out var after), $"{path} was deleted{(because == null ? "" : " (" + because + ")")}");
            Assert.True(hash == after, $"{path} was changed{(because == null ? "" : " (" + because + ")")}");
        }
    }

    /// <summary>Asserts that the tree is exactly as it was: same files, same bytes, nothing added.</summary>
    public void AssertUnchanged()
    {
        AssertAllPreserved();
        var now = Take(_root)._entries;
        Assert.Equal(_entries.Keys.Order(StringComparer.Ordinal), now.Keys.Order(StringComparer.Ordinal));
    }
}
