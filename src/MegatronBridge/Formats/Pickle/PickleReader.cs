using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using MegatronBridge.IO;
using static MegatronBridge.Formats.Pickle.PickleOpcodes;

namespace MegatronBridge.Formats.Pickle;

/// <summary>
/// An allow-listed unpickler: a stack machine over the opcodes of protocols 0-5 that builds the object model of
/// PyValues.cs. Globals must be on the <see cref="PickleAllowList"/>; calls (REDUCE, NEWOBJ, BUILD) only record
/// what would be constructed. Nothing is executed.
/// </summary>
internal sealed class PickleReader
{
    private static readonly object MarkObject = new();

    private readonly ReadOnlyMemory<byte> _data;
    private readonly string _source;
    private readonly PickleAllowList _allowList;
    private readonly Func<object?, object?>? _persistentLoad;
    private readonly List<object?> _stack = new();
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();
    private readonly Dictionary<string, PyGlobal> _globals = new(StringComparer.Ordinal);
    private int _pos;

    private PickleReader(ReadOnlyMemory<byte> data, string source, PickleAllowList allowList, Func<object?, object?>? persistentLoad)
    {
        _data = data;
        _source = source;
        _allowList = allowList;
        _persistentLoad = persistentLoad;
    }

    /// <summary>
    /// Unpickles <paramref name="data"/>. <paramref name="source"/> names the file (and record) for error messages;
    /// <paramref name="persistentLoad"/> resolves BINPERSID ids (torch storages); without it a persistent id is an error.
    /// </summary>
    public static object? Load(ReadOnlyMemory<byte> data, string source, PickleAllowList? allowList = null,
        Func<object?, object?>? persistentLoad = null)
    {
        var reader = new PickleReader(data, source, allowList ?? PickleAllowList.Torch, persistentLoad);
        try
        {
            return reader.Run();
        }
        catch (InvalidInputException)
        {
            throw;
        }
        catch (Exception e) when (e is InvalidCastException or ArgumentException or OverflowException or DecoderFallbackException or FormatException)
        {
            throw new InvalidInputException($"{source}: malformed pickle at byte {reader._pos}: {e.Message}", e);
        }
    }

    private InvalidInputException Bad(string message) => new($"{_source}: {message} (pickle byte {_pos})");

    private ReadOnlySpan<byte> Take(long count)
    {
        if (count < 0 || count > _data.Length - _pos) throw Bad($"truncated pickle: needs {count} more bytes, {_data.Length - _pos} left");
        var span = _data.Span.Slice(_pos, (int)count);
        _pos += (int)count;
        return span;
    }

    private byte U8() => Take(1)[0];
    private ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    private uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    private ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    private string Line()
    {
        var rest = _data.Span[_pos..];
        var end = rest.IndexOf((byte)'\n');
        if (end < 0) throw Bad("truncated pickle: unterminated text argument");
        var text = Encoding.UTF8.GetString(rest[..end]);
        _pos += end + 1;
        return text;
    }

    private void Push(object? value) => _stack.Add(value);

    private object? Pop()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _stack.Count <= _marks.Peek())) throw Bad("stack underflow");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Top()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _stack.Count <= _marks.Peek())) throw Bad("stack underflow");
        return _stack[^1];
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw Bad("MARK expected");
        var start = _marks.Pop();
        var items = _stack.GetRange(start, _stack.Count - start);
        _stack.RemoveRange(start, _stack.Count - start);
        return items;
    }

    private void MemoPut(long index) => _memo[index] = Top();

    private object? MemoGet(long index) =>
        _memo.TryGetValue(index, out var v) ? v : throw Bad($"memo index {index} used before it was set");

    private object? Run()
    {
        while (true)
        {
            var op = U8();
            switch (op)
            {
                case Proto:
                    var proto = U8();
                    if (proto > 5) throw Bad($"unsupported pickle protocol {proto}");
                    break;
                case PickleOpcodes.Frame: U64(); break; // frames only group bytes; the data is read sequentially anyway
                case Stop:
                    if (_stack.Count != 1 || _marks.Count != 0) throw Bad("STOP with an unbalanced stack");
                    return _stack[0];
                case Mark: _marks.Push(_stack.Count); break;
                case PickleOpcodes.Pop:
                    if (_marks.Count > 0 && _stack.Count == _marks.Peek()) _marks.Pop();
                    else Pop();
                    break;
                case PickleOpcodes.PopMark: PopMark(); break;
                case Dup: Push(Top()); break;
                case None: Push(null); break;
                case NewTrue: Push(true); break;
                case NewFalse: Push(false); break;
                case BinInt: Push((long)(int)U32()); break;
                case BinInt1: Push((long)U8()); break;
                case BinInt2: Push((long)U16()); break;
                case Long1: Push(Normalize(new BigInteger(Take(U8()), isUnsigned: false, isBigEndian: false))); break;
                case Long4: Push(Normalize(new BigInteger(Take(checked((int)U32())), isUnsigned: false, isBigEndian: false))); break;
                case Int:
                    var intText = Line();
                    Push(intText switch
                    {
                        "00" => false,
                        "01" => true,
                        _ => Normalize(BigInteger.Parse(intText, CultureInfo.InvariantCulture)),
                    });
                    break;
                case PickleOpcodes.Long: Push(Normalize(BigInteger.Parse(Line().TrimEnd('L'), CultureInfo.InvariantCulture))); break;
                case BinFloat: Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;
                case PickleOpcodes.Float: Push(double.Parse(Line(), CultureInfo.InvariantCulture)); break;
                case BinUnicode: Push(Utf8(Take(U32()))); break;
                case ShortBinUnicode: Push(Utf8(Take(U8()))); break;
                case BinUnicode8: Push(Utf8(Take(checked((long)U64())))); break;
                case BinString: Push(Encoding.Latin1.GetString(Take(U32()))); break;
                case ShortBinString: Push(Encoding.Latin1.GetString(Take(U8()))); break;
                case BinBytes: Push(Take(U32()).ToArray()); break;
                case ShortBinBytes: Push(Take(U8()).ToArray()); break;
                case BinBytes8: Push(Take(checked((long)U64())).ToArray()); break;
                case ByteArray8: Push(Take(checked((long)U64())).ToArray()); break;
                case EmptyTuple: Push(PyTuple.Of()); break;
                case Tuple1: Push(PyTuple.Of(Pop())); break;
                case Tuple2: { var b = Pop(); var a = Pop(); Push(PyTuple.Of(a, b)); break; }
                case Tuple3: { var c = Pop(); var b = Pop(); var a = Pop(); Push(PyTuple.Of(a, b, c)); break; }
                case PickleOpcodes.Tuple: Push(new PyTuple(PopMark())); break;
                case EmptyList: Push(new List<object?>()); break;
                case PickleOpcodes.List: Push(PopMark()); break;
                case Append: { var v = Pop(); AsList(Top()).Add(v); break; }
                case Appends: { var items = PopMark(); AsList(Top()).AddRange(items); break; }
                case EmptyDict: Push(new PyDict()); break;
                case PickleOpcodes.Dict: { var items = PopMark(); var d = new PyDict(); AddPairs(d, items); Push(d); break; }
                case SetItem: { var v = Pop(); var k = Pop(); AsDict(Top()).Set(k, v); break; }
                case SetItems: { var items = PopMark(); AddPairs(AsDict(Top()), items); break; }
                case EmptySet: Push(new List<object?>()); break;
                case AddItems: { var items = PopMark(); AsList(Top()).AddRange(items); break; }
                case FrozenSet: Push(PopMark()); break;
                case PickleOpcodes.Global:
                    {
                        var module = Line();
                        var name = Line();
                        Push(ResolveGlobal(module, name));
                        break;
                    }
                case StackGlobal:
                    {
                        var name = Pop() as string ?? throw Bad("STACK_GLOBAL needs two strings");
                        var module = Pop() as string ?? throw Bad("STACK_GLOBAL needs two strings");
                        Push(ResolveGlobal(module, name));
                        break;
                    }
                case Reduce:
                    {
                        var args = Pop() as PyTuple ?? throw Bad("REDUCE arguments are not a tuple");
                        var callable = Pop() as PyGlobal ?? throw Bad("REDUCE of something that is not an allowed global");
                        Push(Call(callable, args));
                        break;
                    }
                case NewObj:
                    {
                        var args = Pop() as PyTuple ?? throw Bad("NEWOBJ arguments are not a tuple");
                        var cls = Pop() as PyGlobal ?? throw Bad("NEWOBJ of something that is not an allowed class");
                        Push(new PyInstance(cls, args, viaReduce: false));
                        break;
                    }
                case NewObjEx:
                    {
                        Pop(); // keyword arguments are kept out of the record; the classes in scope take none
                        var args = Pop() as PyTuple ?? throw Bad("NEWOBJ_EX arguments are not a tuple");
                        var cls = Pop() as PyGlobal ?? throw Bad("NEWOBJ_EX of something that is not an allowed class");
                        Push(new PyInstance(cls, args, viaReduce: false));
                        break;
                    }
                case Build:
                    {
                        var state = Pop();
                        switch (Top())
                        {
                            case PyInstance inst: inst.WithState(state); break;
                            case PyDict: break; // OrderedDict.__setstate__ carries no data we need
                            default: throw Bad("BUILD on a value that is not an object");
                        }
                        break;
                    }
                case BinPersId:
                    {
                        var pid = Pop();
                        if (_persistentLoad == null) throw Bad("persistent id found where none is expected");
                        Push(_persistentLoad(pid));
                        break;
                    }
                case PersId:
                    {
                        var pid = Line();
                        if (_persistentLoad == null) throw Bad("persistent id found where none is expected");
                        Push(_persistentLoad(pid));
                        break;
                    }
                case Put: MemoPut(long.Parse(Line(), CultureInfo.InvariantCulture)); break;
                case BinPut: MemoPut(U8()); break;
                case LongBinPut: MemoPut(U32()); break;
                case PickleOpcodes.Memoize: MemoPut(_memo.Count); break;
                case Get: Push(MemoGet(long.Parse(Line(), CultureInfo.InvariantCulture))); break;
                case BinGet: Push(MemoGet(U8())); break;
                case LongBinGet: Push(MemoGet(U32())); break;
                default:
                    throw Bad($"unsupported pickle opcode 0x{op:X2}");
            }
        }
    }

    private static object Normalize(BigInteger value) =>
        value >= long.MinValue && value <= long.MaxValue ? (object)(long)value : value;

    private static string Utf8(ReadOnlySpan<byte> bytes) =>
        new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);

    private List<object?> AsList(object? target) => target as List<object?> ?? throw Bad("APPEND to a value that is not a list");
    private PyDict AsDict(object? target) => target as PyDict ?? throw Bad("SETITEM on a value that is not a dict");

    private void AddPairs(PyDict dict, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Bad("odd number of items for a dict");
        for (int i = 0; i < items.Count; i += 2) dict.Set(items[i], items[i + 1]);
    }

    private PyGlobal ResolveGlobal(string module, string name)
    {
        if (!_allowList.IsAllowed(module, name))
            throw new InvalidInputException($"{_source}: pickle refers to global '{module}.{name}', which is not allowed (nothing was executed)");
        var full = module + "." + name;
        if (!_globals.TryGetValue(full, out var g)) _globals[full] = g = new PyGlobal(module, name);
        return g;
    }

    private object? Call(PyGlobal callable, PyTuple args)
    {
        switch (callable.FullName)
        {
            case "collections.OrderedDict":
                var dict = new PyDict();
                if (args.Count > 0 && args[0] is List<object?> pairs)
                {
                    foreach (var p in pairs)
                    {
                        if (p is PyTuple { Count: 2 } kv) dict.Set(kv[0], kv[1]);
                        else throw Bad("OrderedDict argument is not a list of pairs");
                    }
                }
                return dict;
            case "builtins.set":
            case "builtins.frozenset":
                return args.Count > 0 && args[0] is List<object?> items ? new List<object?>(items) : new List<object?>();
            case "_codecs.encode":
                // protocol 2 spelling of a bytes object: _codecs.encode(text, 'latin1')
                if (args.Count == 2 && args[0] is string text && args[1] is "latin1" or "latin-1")
                    return Encoding.Latin1.GetBytes(text);
                throw Bad("unsupported _codecs.encode call");
            default:
                return new PyInstance(callable, args, viaReduce: true);
        }
    }
}
