namespace MegatronBridge.IO;

/// <summary>
/// Refuses, before anything opens it, an input that is not a regular file (or a symlink to one): opening a FIFO
/// blocks forever, and a device or socket is never a checkpoint.
/// </summary>
internal static class InputFile
{
    /// <summary>Throws an <see cref="IOException"/> naming <paramref name="path"/> unless it is a regular file, following symlinks.</summary>
    public static void EnsureRegular(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"{path}: not found", path);
            return;
        }
        var identity = NativeFileSystem.Identify(path, followSymlink: true);
        if (identity == null)
            throw new FileNotFoundException(new FileInfo(path).LinkTarget is { } target
                ? $"{path}: is a symbolic link to {target}, which does not exist"
                : $"{path}: not found", path);
        if (identity.Value.Kind != NativeFileSystem.UnixFileKind.Regular)
            throw new IOException($"{path}: is not a regular file but a {Describe(identity.Value.Kind)}; refusing to read it");
    }

    /// <summary>Opens <paramref name="path"/> for reading after <see cref="EnsureRegular"/>.</summary>
    public static FileStream OpenRead(string path, int bufferSize = 4096, FileOptions options = FileOptions.None)
    {
        EnsureRegular(path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize, options);
    }

    private static string Describe(NativeFileSystem.UnixFileKind kind) => kind switch
    {
        NativeFileSystem.UnixFileKind.Directory => "folder",
        NativeFileSystem.UnixFileKind.Fifo => "named pipe (FIFO)",
        NativeFileSystem.UnixFileKind.Socket => "socket",
        NativeFileSystem.UnixFileKind.CharacterDevice => "character device",
        NativeFileSystem.UnixFileKind.BlockDevice => "block device",
        _ => "special file",
    };
}
