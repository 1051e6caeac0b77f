using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace MegatronBridge.IO;

/// <summary>
/// The two Linux system calls .NET does not expose: <c>statx</c> (file type and inode, without following a final
/// symlink) and <c>renameat2</c> with <c>RENAME_NOREPLACE</c> (a move that fails instead of replacing what is there).
/// </summary>
internal static partial class NativeFileSystem
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1, StatxIno = 0x100;
    private const uint RenameNoReplace = 1;
    private const int EExist = 17, ENotEmpty = 39, EInval = 22, ENoSys = 38;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Rename(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkDir(string path, uint mode);

    /// <summary>What a path is, without following a final symlink; null when nothing is there.</summary>
    public readonly record struct FileIdentity(UnixFileKind Kind, ulong Device, ulong Inode);

    public enum UnixFileKind { Regular, Directory, SymbolicLink, Fifo, Socket, CharacterDevice, BlockDevice, Unknown }

    /// <summary>The kind and identity (device, inode) of <paramref name="path"/> (statx, not following a final symlink); null when it does not exist.</summary>
    public static unsafe FileIdentity? Identify(string path, bool followSymlink = false)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("statx is Linux-only");
        // struct statx is 256 bytes with the same layout on every architecture.
        byte* buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, followSymlink ? 0 : AtSymlinkNoFollow, StatxType | StatxIno, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20) return null; // ENOENT, ENOTDIR
            throw new IOException($"{path}: cannot be examined ({Marshal.GetPInvokeErrorMessage(errno)})");
        }
        var span = new ReadOnlySpan<byte>(buffer, 256);
        ushort mode = BinaryPrimitives.ReadUInt16LittleEndian(span[28..]);
        ulong inode = BinaryPrimitives.ReadUInt64LittleEndian(span[32..]);
        ulong device = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(span[136..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(span[140..]);
        var kind = (mode & 0xF000) switch
        {
            0x8000 => UnixFileKind.Regular,
            0x4000 => UnixFileKind.Directory,
            0xA000 => UnixFileKind.SymbolicLink,
            0x1000 => UnixFileKind.Fifo,
            0xC000 => UnixFileKind.Socket,
            0x2000 => UnixFileKind.CharacterDevice,
            0x6000 => UnixFileKind.BlockDevice,
            _ => UnixFileKind.Unknown,
        };
        return new FileIdentity(kind, device, inode);
    }

    /// <summary>
    /// Moves <paramref name="source"/> to <paramref name="destination"/> only if nothing is there; false (and nothing
    /// moved) when something is. On Linux this is one atomic <c>renameat2(RENAME_NOREPLACE)</c>; where the filesystem
    /// lacks that flag, the destination is first claimed with <c>mkdir</c> (which fails if anything is there) and the
    /// folder is renamed over that empty claim (rename replaces only an empty folder). Elsewhere it falls back to
    /// <see cref="Directory.Move"/>, which checks and moves in two steps.
    /// </summary>
    public static bool MoveDirectoryNoReplace(string source, string destination)
    {
        if (!OperatingSystem.IsLinux())
        {
            if (Path.Exists(destination)) return false;
            Directory.Move(source, destination);
            return true;
        }
        if (RenameAt2(AtFdCwd, source, AtFdCwd, destination, RenameNoReplace) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is EExist or ENotEmpty) return false;
        if (errno is not (EInval or ENoSys)) throw Failure(errno, source, destination);
        if (MkDir(destination, 0x1ED) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            if (errno == EExist) return false;
            throw Failure(errno, source, destination);
        }
        if (Rename(source, destination) == 0) return true;
        errno = Marshal.GetLastPInvokeError();
        if (errno is EExist or ENotEmpty) return false; // someone wrote into the claimed folder: it is theirs now
        throw Failure(errno, source, destination);
    }

    private static IOException Failure(int errno, string source, string destination) =>
        new($"{destination}: cannot move {source} there ({Marshal.GetPInvokeErrorMessage(errno)})");
}
