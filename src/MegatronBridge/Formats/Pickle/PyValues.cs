using System.Numerics;

namespace MegatronBridge.Formats.Pickle;

// The Python object model shared by PickleWriter and PickleReader. Plain Python values map to C# values:
// None -> null, bool -> bool, int -> long (BigInteger when wider), float -> double, str -> string, bytes -> byte[],
// list -> List<object?>, tuple -> PyTuple, dict -> PyDict. Reference types carry object identity: the writer
// memoizes them by reference, so sharing one instance reproduces CPython's BINGET back-references. A C# string is
// always pickled as a new object; a PyStr instance is one Python string object that may be referenced many times.

/// <summary>One Python str object with identity (pickled once, then re-referenced from the memo).</summary>
internal sealed class PyStr(string value)
{
    public string Value { get; } = value;
    public override string ToString() => Value;
}

/// <summary>A Python tuple.</summary>
internal sealed class PyTuple(IReadOnlyList<object?> items)
{
    public static PyTuple Of(params object?[] items) => new(items);
    public IReadOnlyList<object?> Items { get; } = items;
    public int Count => Items.Count;

    /// <summary>Replaces an item in place (reader post-processing; tuples built by the reader are backed by arrays or lists).</summary>
    internal void ReplaceItem(int index, object? value)
    {
        switch (Items)
        {
            case object?[] array: array[index] = value; break;
            case List<object?> list: list[index] = value; break;
            default: throw new InvalidOperationException("tuple is not mutable");
        }
    }
    public object? this[int index] => Items[index];
    public override string ToString() => PyFormat.Repr(this);
}

/// <summary>A Python dict (or OrderedDict) with its insertion order.</summary>
internal sealed class PyDict
{
    private readonly List<KeyValuePair<object?, object?>> _items = new();

    // Position of each string / int key, so big dicts (state_dict_metadata) stay linear to build and query.
    private readonly Dictionary<object, int> _positions = new();

    public IReadOnlyList<KeyValuePair<object?, object?>> Items => _items;
    public int Count => _items.Count;

    /// <summary>Sets a key like Python does: an existing equal key keeps its position.</summary>
    public void Set(object? key, object? value)
    {
        var i = IndexOf(key);
        if (i >= 0)
        {
            _items[i] = new(_items[i].Key, value);
            return;
        }
        Add(key, value);
    }

    /// <summary>Appends without the duplicate check (writer side, keys known distinct).</summary>
    public PyDict Add(object? key, object? value)
    {
        var hashKey = HashKey(key);
        if (hashKey != null) _positions.TryAdd(hashKey, _items.Count);
        _items.Add(new(key, value));
        return this;
    }

    /// <summary>Replaces the value at a position in place (reader post-processing).</summary>
    internal void ReplaceValueAt(int index, object? value) => _items[index] = new(_items[index].Key, value);

    public bool TryGet(string key, out object? value)
    {
        var i = IndexOf(key);
        value = i >= 0 ? _items[i].Value : null;
        return i >= 0;
    }

    private static object? HashKey(object? key) => key switch
    {
        string s => s,
        PyStr ps => ps.Value,
        long l => l,
        int i => (long)i,
        _ => null,
    };

    private int IndexOf(object? key)
    {
        var hashKey = HashKey(key);
        if (hashKey != null) return _positions.TryGetValue(hashKey, out var p) ? p : -1;
        for (int i = 0; i < _items.Count; i++)
        {
            if (PyFormat.KeyEquals(_items[i].Key, key)) return i;
        }
        return -1;
    }

    public bool ContainsKey(string key) => TryGet(key, out _);

    public override string ToString() => PyFormat.Repr(this);
}

/// <summary>A module-level Python name (class, function, dtype object), e.g. torch.bfloat16.</summary>
internal sealed class PyGlobal(string module, string name, PyStr? moduleString = null)
{
    public string Module { get; } = module;
    public string Name { get; } = name;

    /// <summary>Writer only: the shared module-name string object (protocol 4 pickles it by identity).</summary>
    public PyStr? ModuleString { get; } = moduleString;

    public string FullName => Module + "." + Name;
    public override string ToString() => FullName;
}

/// <summary>
/// An object built by calling a global: <c>cls.__new__(cls, *args)</c> (NEWOBJ) or <c>callable(*args)</c> (REDUCE),
/// optionally followed by BUILD with <see cref="State"/>. The reader produces these for allow-listed globals and
/// never runs anything; the writer emits them.
/// </summary>
internal sealed class PyInstance(PyGlobal type, PyTuple args, bool viaReduce)
{
    public PyGlobal Type { get; } = type;
    public PyTuple Args { get; } = args;
    public bool ViaReduce { get; } = viaReduce;
    public bool HasState { get; private set; }
    public object? State { get; private set; }

    public static PyInstance New(PyGlobal type) => new(type, PyTuple.Of(), viaReduce: false);
    public static PyInstance Reduce(PyGlobal callable, params object?[] args) => new(callable, new PyTuple(args), viaReduce: true);

    /// <summary>
    /// Writer only: items set on the object after construction (what a dict subclass such as OrderedDict reduces
    /// to: REDUCE, then SETITEM(S) from an item iterator).
    /// </summary>
    public PyDict? DictItems { get; private set; }

    public PyInstance WithDictItems(PyDict items)
    {
        DictItems = items;
        return this;
    }

    public PyInstance WithState(object? state)
    {
        State = state;
        HasState = true;
        return this;
    }

    /// <summary>An attribute from a dict state (dataclasses), or from the (dict, slots) pair some classes use.</summary>
    public bool TryGetAttribute(string name, out object? value)
    {
        if (State is PyDict d) return d.TryGet(name, out value);
        if (State is PyTuple { Count: 2 } t && t[0] is PyDict d0 && d0.TryGet(name, out value)) return true;
        if (State is PyTuple { Count: 2 } t2 && t2[1] is PyDict d1) return d1.TryGet(name, out value);
        value = null;
        return false;
    }

    public override string ToString() => PyFormat.Repr(this);
}

/// <summary>A persistent id (BINPERSID): the pickle refers to an object stored outside it (torch storages).</summary>
internal sealed class PyPersistentId(object? id)
{
    public object? Id { get; } = id;
}

/// <summary>Formatting and equality helpers for the object model.</summary>
internal static class PyFormat
{
    public static bool KeyEquals(object? a, object? b)
    {
        a = a is PyStr sa ? sa.Value : a;
        b = b is PyStr sb ? sb.Value : b;
        if (a is null || b is null) return a is null && b is null;
        if (IsInteger(a) && IsInteger(b)) return ToBig(a) == ToBig(b);
        return a.Equals(b);
    }

    private static bool IsInteger(object o) => o is long or int or BigInteger or bool;
    private static BigInteger ToBig(object o) => o switch
    {
        long l => l,
        int i => i,
        bool b => b ? 1 : 0,
        BigInteger g => g,
        _ => throw new ArgumentException("not an integer"),
    };

    /// <summary>A short Python-like rendering for error messages (depth- and length-limited, safe on cycles).</summary>
    public static string Repr(object? value)
    {
        var text = Repr(value, 3);
        return text.Length > 300 ? text[..300] + "..." : text;
    }

    private static string Repr(object? value, int depth)
    {
        if (depth < 0) return "...";
        return value switch
        {
            null => "None",
            bool b => b ? "True" : "False",
            string s => "'" + s + "'",
            PyStr s => "'" + s.Value + "'",
            double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            byte[] bytes => $"b<{bytes.Length} bytes>",
            List<object?> list => "[" + string.Join(", ", list.Take(20).Select(x => Repr(x, depth - 1))) + (list.Count > 20 ? ", ..." : "") + "]",
            PyTuple t => "(" + string.Join(", ", t.Items.Take(20).Select(x => Repr(x, depth - 1))) + (t.Count == 1 ? ",)" : ")"),
            PyDict d => "{" + string.Join(", ", d.Items.Take(20).Select(kv => Repr(kv.Key, depth - 1) + ": " + Repr(kv.Value, depth - 1))) + (d.Count > 20 ? ", ..." : "") + "}",
            PyInstance inst => inst.Type.FullName + Repr(inst.Args, depth - 1) + (inst.HasState ? "<" + Repr(inst.State, depth - 1) + ">" : ""),
            _ => value.ToString() ?? "?",
        };
    }
}
