using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using static MegatronBridge.Formats.Pickle.PickleOpcodes;

namespace MegatronBridge.Formats.Pickle;

/// <summary>
/// Writes the Python object model (PyValues.cs) as CPython's C pickler does for protocols 2 and 4, byte for
/// byte: memo after every new string/tuple/list/dict/global/instance, BINGET for re-referenced objects, dict and list
/// batching of 1000, and (protocol 4) 64 KiB framing checked at the start of every object.
/// </summary>
internal sealed class PickleWriter
{
    private const int BatchSize = 1000;
    private const int FrameSizeTarget = 64 * 1024;

    private readonly int _protocol;
    private readonly MemoryStream _output = new();
    private readonly MemoryStream _frame = new();
    private readonly Dictionary<object, int> _memo = new(ReferenceEqualityComparer.Instance);

    private PickleWriter(int protocol)
    {
        if (protocol is not (2 or 4)) throw new ArgumentOutOfRangeException(nameof(protocol), protocol, "only protocols 2 and 4 are written");
        _protocol = protocol;
    }

    /// <summary>Pickles <paramref name="root"/> with the given protocol (2 or 4).</summary>
    public static byte[] Serialize(object? root, int protocol)
    {
        var writer = new PickleWriter(protocol);
        writer._output.WriteByte(Proto);
        writer._output.WriteByte((byte)protocol);
        writer.Save(root);
        writer.Op(Stop);
        writer.CommitFrame();
        return writer._output.ToArray();
    }

    private bool Framing => _protocol >= 4;
    private Stream Out => Framing ? _frame : _output;

    private void CommitFrame()
    {
        if (!Framing || _frame.Length == 0) return;
        var payload = _frame.GetBuffer().AsSpan(0, (int)_frame.Length);
        if (payload.Length >= 4)
        {
            Span<byte> header = stackalloc byte[9];
            header[0] = Frame;
            BinaryPrimitives.WriteUInt64LittleEndian(header[1..], (ulong)payload.Length);
            _output.Write(header);
        }
        _output.Write(payload);
        _frame.SetLength(0);
    }

    private void Op(byte opcode) => Out.WriteByte(opcode);

    private void Bytes(ReadOnlySpan<byte> data) => Out.Write(data);

    private void U32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Bytes(b);
    }

    private void Save(object? obj)
    {
        if (Framing && _frame.Length >= FrameSizeTarget) CommitFrame();

        if (obj is not null && obj is not string && !obj.GetType().IsValueType && _memo.TryGetValue(obj, out var index))
        {
            MemoGet(index);
            return;
        }

        switch (obj)
        {
            case null: Op(None); break;
            case bool b: Op(b ? NewTrue : NewFalse); break;
            case int i: SaveInt(i); break;
            case long l: SaveInt(l); break;
            case BigInteger g: SaveBig(g); break;
            case double d: SaveFloat(d); break;
            case float f: SaveFloat(f); break;
            case string s: SaveString(s, null); break;
            case PyStr ps: SaveString(ps.Value, ps); break;
            case byte[] bytes: SaveBytes(bytes); break;
            case PyTuple t: SaveTuple(t); break;
            case List<object?> list: SaveList(list); break;
            case PyDict dict: SaveDict(dict); break;
            case PyGlobal g: SaveGlobal(g); break;
            case PyInstance inst: SaveInstance(inst); break;
            case PyPersistentId pid:
                Save(pid.Id);
                Op(BinPersId);
                break;
            default:
                throw new ArgumentException($"cannot pickle a value of type {obj.GetType().Name}");
        }
    }

    private void Memoize(object obj)
    {
        var index = _memo.Count;
        // C# strings are never looked up (each is a new Python object), but they still take a memo slot.
        _memo[obj is string ? new object() : obj] = index;
        if (_protocol >= 4)
        {
            Op(PickleOpcodes.Memoize);
        }
        else if (index < 256)
        {
            Op(BinPut);
            Op((byte)index);
        }
        else
        {
            Op(LongBinPut);
            U32((uint)index);
        }
    }

    private void MemoGet(int index)
    {
        if (index < 256)
        {
            Op(BinGet);
            Op((byte)index);
        }
        else
        {
            Op(LongBinGet);
            U32((uint)index);
        }
    }

    private void SaveInt(long value)
    {
        if (value is >= 0 and <= 0xFF)
        {
            Op(BinInt1);
            Op((byte)value);
        }
        else if (value is >= 0 and <= 0xFFFF)
        {
            Op(BinInt2);
            Span<byte> b = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)value);
            Bytes(b);
        }
        else if (value is >= int.MinValue and <= int.MaxValue)
        {
            Op(BinInt);
            U32((uint)(int)value);
        }
        else
        {
            SaveLong1(value);
        }
    }

    private void SaveBig(BigInteger value)
    {
        if (value >= long.MinValue && value <= long.MaxValue) SaveInt((long)value);
        else SaveLong1(value);
    }

    private void SaveLong1(BigInteger value)
    {
        var encoded = value.ToByteArray(isUnsigned: false, isBigEndian: false);
        if (encoded.Length > 255) throw new ArgumentException("integer too large to pickle");
        Op(Long1);
        Op((byte)encoded.Length);
        Bytes(encoded);
    }

    private void SaveFloat(double value)
    {
        Op(BinFloat);
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(b, value);
        Bytes(b);
    }

    private void SaveString(string value, PyStr? identity)
    {
        var utf8 = Encoding.UTF8.GetBytes(value);
        if (_protocol >= 4 && utf8.Length < 256)
        {
            Op(ShortBinUnicode);
            Op((byte)utf8.Length);
        }
        else
        {
            Op(BinUnicode);
            U32(checked((uint)utf8.Length));
        }
        Bytes(utf8);
        Memoize((object?)identity ?? value);
    }

    private void SaveBytes(byte[] value)
    {
        if (_protocol < 3) throw new ArgumentException("bytes objects need pickle protocol 3 or later");
        if (value.Length < 256)
        {
            Op(ShortBinBytes);
            Op((byte)value.Length);
        }
        else
        {
            Op(BinBytes);
            U32((uint)value.Length);
        }
        Bytes(value);
        Memoize(value);
    }

    private void SaveTuple(PyTuple tuple)
    {
        if (tuple.Count == 0)
        {
            Op(EmptyTuple);
            return;
        }
        if (tuple.Count <= 3)
        {
            foreach (var item in tuple.Items) Save(item);
            Op(tuple.Count switch { 1 => Tuple1, 2 => Tuple2, _ => Tuple3 });
        }
        else
        {
            Op(Mark);
            foreach (var item in tuple.Items) Save(item);
            Op(PickleOpcodes.Tuple);
        }
        Memoize(tuple);
    }

    private void SaveList(List<object?> list)
    {
        Op(EmptyList);
        Memoize(list);
        if (list.Count == 0) return;
        if (list.Count == 1)
        {
            Save(list[0]);
            Op(Append);
            return;
        }
        int total = 0;
        do
        {
            Op(Mark);
            int batch = 0;
            while (total < list.Count)
            {
                Save(list[total++]);
                if (++batch == BatchSize) break;
            }
            Op(Appends);
        } while (total < list.Count);
    }

    private void SaveDict(PyDict dict)
    {
        Op(EmptyDict);
        Memoize(dict);
        var items = dict.Items;
        if (items.Count == 0) return;
        if (items.Count == 1)
        {
            Save(items[0].Key);
            Save(items[0].Value);
            Op(SetItem);
            return;
        }
        // CPython's batch_dict_exact: batches of 1000; a size that is a multiple of 1000 ends with an empty batch.
        int next = 0, inBatch;
        do
        {
            Op(Mark);
            inBatch = 0;
            while (next < items.Count)
            {
                Save(items[next].Key);
                Save(items[next].Value);
                next++;
                if (++inBatch == BatchSize) break;
            }
            Op(SetItems);
        } while (inBatch == BatchSize);
    }

    /// <summary>
    /// CPython's batch_dict over an item iterator (used for dict subclasses): one item -> SETITEM, else batches of
    /// up to 1000 in MARK ... SETITEMS, and unlike the exact-dict path no trailing empty batch.
    /// </summary>
    private void SaveDictItemsFromIterator(PyDict dict)
    {
        var items = dict.Items;
        if (items.Count == 1)
        {
            Save(items[0].Key);
            Save(items[0].Value);
            Op(SetItem);
            return;
        }
        int next = 0;
        while (next < items.Count)
        {
            int remaining = items.Count - next;
            if (remaining == 1)
            {
                Save(items[next].Key);
                Save(items[next].Value);
                Op(SetItem);
                return;
            }
            Op(Mark);
            int batch = 0;
            while (next < items.Count && batch < BatchSize)
            {
                Save(items[next].Key);
                Save(items[next].Value);
                next++;
                batch++;
            }
            Op(SetItems);
        }
    }

    private void SaveGlobal(PyGlobal global)
    {
        if (_protocol >= 4)
        {
            Save((object?)global.ModuleString ?? global.Module);
            Save(global.Name);
            Op(StackGlobal);
        }
        else
        {
            Op(PickleOpcodes.Global);
            Bytes(Encoding.UTF8.GetBytes(global.Module + "\n" + global.Name + "\n"));
        }
        Memoize(global);
    }

    private void SaveInstance(PyInstance instance)
    {
        Save(instance.Type);
        Save(instance.Args);
        Op(instance.ViaReduce ? Reduce : NewObj);
        Memoize(instance);
        if (instance.DictItems != null) SaveDictItemsFromIterator(instance.DictItems);
        if (instance.HasState)
        {
            Save(instance.State);
            Op(Build);
        }
    }
}
