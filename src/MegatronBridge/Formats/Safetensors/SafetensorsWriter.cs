using System.Buffers;
using Microsoft.Win32.SafeHandles;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>
/// Writes one .safetensors file whose tensors are all known in advance: the header is computed and written first,
/// then the caller supplies each tensor's bytes, in any order and in pieces, through <see cref="Sink"/> (a
/// <see cref="RecipeExecutor"/> can execute straight into the file). The file is written under a temporary name
/// in the target folder and renamed into place by <see cref="Commit"/>; disposing without committing deletes it.
/// Writes from several threads are safe (serialised by a lock); concurrent writes to different tensors do not
/// merge, so give each thread large pieces.
/// </summary>
internal sealed class SafetensorsWriter : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly Lock _gate = new();
    private readonly long[] _written;
    private readonly int _bufferBytes;
    private readonly bool _flushToDisk;
    private byte[]? _pending;
    private long _pendingStart;
    private int _pendingLength;
    private bool _committed;
    private bool _disposed;

    private SafetensorsWriter(string path, string tempPath, SafeFileHandle handle, SafetensorsLayout layout, SafetensorsWriteOptions options)
    {
        Path = path;
        TempPath = tempPath;
        _handle = handle;
        Layout = layout;
        _written = new long[layout.Entries.Count];
        _bufferBytes = Math.Max(options.WriteBufferBytes, 0);
        _flushToDisk = options.FlushToDisk;
    }

    /// <summary>The final path (exists only after <see cref="Commit"/>).</summary>
    public string Path { get; }
    /// <summary>Where the file is written until it is complete.</summary>
    public string TempPath { get; }
    public SafetensorsLayout Layout { get; }
    /// <summary>The tensors in file order.</summary>
    public IEnumerable<TensorMeta> Tensors => Layout.Entries.Select(e => e.Meta);

    public static SafetensorsWriter Create(string path, IEnumerable<TensorMeta> tensors, SafetensorsWriteOptions? options = null)
    {
        options ??= SafetensorsWriteOptions.Default;
        var layout = SafetensorsLayout.Plan(tensors, options);
        string full = System.IO.Path.GetFullPath(path);
        string folder = System.IO.Path.GetDirectoryName(full) ?? throw new ArgumentException($"{path}: no folder");
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such folder (writing {path})");
        // A hidden name without the .safetensors extension: an interrupted write never looks like a finished file.
        string temp = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.partial");
        var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.None, layout.FileLength);
        try
        {
            RandomAccess.SetLength(handle, layout.FileLength);
            RandomAccess.Write(handle, layout.Header, 0);
            return new SafetensorsWriter(path, temp, handle, layout, options);
        }
        catch
        {
            handle.Dispose();
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Where the bytes of tensor <paramref name="name"/> go (offsets relative to the tensor's data).</summary>
    public ITensorSink Sink(string name) => new TensorSink(this, IndexOf(name));

    /// <summary>Writes <paramref name="data"/> at <paramref name="byteOffset"/> of tensor <paramref name="name"/>'s row-major bytes.</summary>
    public void Write(string name, long byteOffset, ReadOnlySpan<byte> data) => Write(IndexOf(name), byteOffset, data);

    /// <summary>Writes a whole tensor.</summary>
    public void WriteTensor(string name, ReadOnlySpan<byte> data)
    {
        int index = IndexOf(name);
        var meta = Layout.Entries[index].Meta;
        if (data.Length != meta.ByteLength)
            throw new ArgumentException($"{Path}: tensor '{name}' needs {meta.ByteLength} bytes, got {data.Length}");
        Write(index, 0, data);
    }

    /// <summary>Copies every tensor of this file from a source holding tensors of the same names, types and shapes.</summary>
    public void CopyFrom(ITensorSource source, int bufferBytes = 16 << 20)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(bufferBytes, 4096));
        try
        {
            for (int i = 0; i < Layout.Entries.Count; i++)
            {
                var meta = Layout.Entries[i].Meta;
                var from = source.Get(meta.Name);
                if (from.DType != meta.DType || from.Shape != meta.Shape)
                    throw new InvalidOperationException($"{source.Description}: tensor '{meta.Name}' is {from}, the file being written expects {meta}");
                for (long at = 0; at < meta.ByteLength; at += buffer.Length)
                {
                    var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, meta.ByteLength - at));
                    source.Read(meta.Name, at, chunk);
                    Write(i, at, chunk);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Whether every byte of the tensor has been supplied (counted, so overlapping writes are caught as an excess).</summary>
    public bool IsComplete(string name)
    {
        int index = IndexOf(name);
        lock (_gate) return _written[index] == Layout.Entries[index].Meta.ByteLength;
    }

    /// <summary>Writes out merged pending bytes and releases the merge buffer.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            ThrowIfClosed();
            FlushPending();
        }
    }

    /// <summary>Checks that every tensor is complete, writes everything out and renames the file into place.</summary>
    public void Commit()
    {
        lock (_gate)
        {
            ThrowIfClosed();
            CheckComplete();
            FlushPending();
            if (_flushToDisk) RandomAccess.FlushToDisk(_handle);
            _handle.Dispose();
            File.Move(TempPath, Path, overwrite: true);
            _committed = true;
        }
    }

    /// <summary>Throws unless every tensor has received all its bytes.</summary>
    public void CheckComplete()
    {
        lock (_gate)
        {
            for (int i = 0; i < _written.Length; i++)
            {
                var meta = Layout.Entries[i].Meta;
                if (_written[i] != meta.ByteLength)
                    throw new InvalidOperationException($"{Path}: tensor '{meta.Name}' got {_written[i]} of its {meta.ByteLength} bytes");
            }
        }
    }

    /// <summary>Abandons an uncommitted file (deletes the temporary file); does nothing after <see cref="Commit"/>.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            ReturnBuffer();
            if (!_committed)
            {
                _handle.Dispose();
                TryDelete(TempPath);
            }
        }
    }

    private int IndexOf(string name) =>
        Layout.TryGetIndex(name, out int index)
            ? index
            : throw new KeyNotFoundException($"{Path}: the file being written has no tensor named '{name}'");

    private void Write(int index, long byteOffset, ReadOnlySpan<byte> data)
    {
        long directAt;
        lock (_gate) directAt = WriteLocked(index, byteOffset, data);
        // Large blocks go to disk outside the lock, so producers of different tensors write at the same time
        // (their byte ranges are disjoint: the accounting above rejects overlaps).
        if (directAt >= 0) RandomAccess.Write(_handle, data, directAt);
    }

    /// <summary>Accounts for the bytes and merges small writes; returns the file offset the caller must write a large block at, or -1.</summary>
    private long WriteLocked(int index, long byteOffset, ReadOnlySpan<byte> data)
    {
        ThrowIfClosed();
        var entry = Layout.Entries[index];
        long length = entry.Meta.ByteLength;
        if (byteOffset < 0 || byteOffset > length - data.Length)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"{Path}: write of {data.Length} bytes at {byteOffset} is outside tensor '{entry.Meta.Name}' ({length} bytes)");
        if (_written[index] + data.Length > length)
            throw new InvalidOperationException($"{Path}: tensor '{entry.Meta.Name}' received more than its {length} bytes (overlapping writes)");
        _written[index] += data.Length;
        if (data.IsEmpty) return -1;

        long at = Layout.DataOffset + entry.DataStart + byteOffset;
        if (_pendingLength > 0 && at == _pendingStart + _pendingLength && _pendingLength + data.Length <= _bufferBytes)
        {
            data.CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += data.Length;
            return -1;
        }
        FlushPending(releaseBuffer: false);
        if (data.Length >= _bufferBytes / 2) return at;
        _pending ??= ArrayPool<byte>.Shared.Rent(_bufferBytes);
        data.CopyTo(_pending);
        _pendingStart = at;
        _pendingLength = data.Length;
        return -1;
    }

    private void FlushPending(bool releaseBuffer = true)
    {
        if (_pendingLength > 0) RandomAccess.Write(_handle, _pending.AsSpan(0, _pendingLength), _pendingStart);
        _pendingLength = 0;
        if (releaseBuffer) ReturnBuffer();
    }

    private void ReturnBuffer()
    {
        if (_pending != null) ArrayPool<byte>.Shared.Return(_pending);
        _pending = null;
    }

    private void ThrowIfClosed()
    {
        if (_committed) throw new InvalidOperationException($"{Path}: already committed");
        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private sealed class TensorSink(SafetensorsWriter writer, int index) : ITensorSink
    {
        public void Write(long byteOffset, ReadOnlySpan<byte> data) => writer.Write(index, byteOffset, data);
    }
}
