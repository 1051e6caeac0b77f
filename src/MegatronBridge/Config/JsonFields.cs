using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.IO;

namespace MegatronBridge.Config;

/// <summary>
/// A JSON object read with Python getattr semantics: a field can be absent, present but null, or present with a
/// value. Unknown fields are kept (the whole object stays available), never rejected.
/// </summary>
public class JsonFields
{
    public JsonFields(JsonObject json, string where)
    {
        Json = json;
        Where = where;
    }

    public JsonObject Json { get; }
    /// <summary>Where this object comes from, for error messages ("config.json", "config.json: text_config").</summary>
    public string Where { get; }

    public bool Has(string name) => Json.ContainsKey(name);
    public bool IsNull(string name) => Json.TryGetPropertyValue(name, out var v) && v is null;

    public int? Int(string name) => GetValue(name, n => ToInt(n, name));
    public long? Long(string name) => GetValue(name, n => ToLong(n, name));
    public double? Double(string name) => GetValue(name, n => ToDouble(n, name));
    public bool? Bool(string name) => GetValue(name, n => ToBool(n, name));
    public string? String(string name) => Get<string>(name, n => n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : throw Bad(name, "a string"));

    public IReadOnlyList<string>? StringList(string name) => Get<IReadOnlyList<string>>(name, n => n is JsonArray a
        ? a.Select((x, i) => x is not null && x.GetValueKind() == JsonValueKind.String ? x.GetValue<string>() : throw Bad($"{name}[{i}]", "a string")).ToList()
        : throw Bad(name, "a list of strings"));

    public IReadOnlyList<int>? IntList(string name) => Get<IReadOnlyList<int>>(name, n => n is JsonArray a
        ? a.Select((x, i) => x is not null ? ToInt(x, $"{name}[{i}]") : throw Bad($"{name}[{i}]", "an integer")).ToList()
        : throw Bad(name, "a list of integers"));

    public JsonObject? Object(string name) => Get<JsonObject>(name, n => n as JsonObject ?? throw Bad(name, "an object"));

    /// <summary>An int token id that may be a single int or a list (eos_token_id can be a list in HF configs).</summary>
    public IReadOnlyList<int>? IntOrIntList(string name) => Get<IReadOnlyList<int>>(name, n => n switch
    {
        JsonArray => IntList(name)!,
        _ when n.GetValueKind() == JsonValueKind.Number => new[] { ToInt(n, name) },
        _ => throw Bad(name, "an integer or a list of integers"),
    });

    /// <summary>An integer field that fits an int; a fraction (1.5), 1e30 or 2^62 is an error naming the field and its value.</summary>
    /// <param name="name">The field's name in error messages (a path such as <c>rope_parameters.mrope_section[0]</c> for a nested value).</param>
    internal int ToInt(JsonNode node, string name)
    {
        long value = ToLong(node, name);
        return value is >= int.MinValue and <= int.MaxValue
            ? (int)value
            : throw Bad(name, $"an integer from {int.MinValue} to {int.MaxValue} (got {node.ToJsonString()})");
    }

    /// <summary>A number read as a double (a literal past its range reads as infinity, as Python's json module reads it); anything else is an error naming the field.</summary>
    internal double ToDouble(JsonNode node, string name)
    {
        if (node.GetValueKind() != JsonValueKind.Number) throw Bad(name, "a number");
        return node.AsValue().TryGetValue<double>(out var value)
            ? value
            : throw Bad(name, $"a number that fits a double (got {node.ToJsonString()})");
    }

    internal bool ToBool(JsonNode node, string name) => node.GetValueKind() switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Bad(name, "true or false"),
    };

    private long ToLong(JsonNode node, string name)
    {
        if (node.GetValueKind() != JsonValueKind.Number) throw Bad(name, "an integer");
        try
        {
            if (node.AsValue().TryGetValue<long>(out var value)) return value;
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or OverflowException)
        {
        }
        throw Bad(name, $"an integer that fits 64 bits (got {node.ToJsonString()})");
    }

    private T? Get<T>(string name, Func<JsonNode, T> read) where T : class =>
        Json.TryGetPropertyValue(name, out var node) && node is not null ? read(node) : null;

    private T? GetValue<T>(string name, Func<JsonNode, T> read) where T : struct =>
        Json.TryGetPropertyValue(name, out var node) && node is not null ? read(node) : null;

    protected InvalidInputException Bad(string name, string expected) =>
        new($"{Where}: field '{name}' must be {expected}");
}
