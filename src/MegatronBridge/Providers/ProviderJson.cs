using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>
/// Providers as JSON objects keyed by the Python field names (the runtime type decides which fields). The C# property
/// names are the Python names in PascalCase, so the snake_case naming policy spells them; a property that does not
/// follow that rule would carry its own <see cref="JsonPropertyNameAttribute"/>.
/// </summary>
internal static class ProviderJson
{
    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>All serialised fields, base-class fields first (the order a Python dataclass lists them).</summary>
    public static JsonObject ToJson(GptModelProvider provider)
    {
        var fields = (JsonObject)JsonSerializer.SerializeToNode(provider, provider.GetType(), Options)!;
        var ordered = new JsonObject();
        foreach (var type in TypeChain(provider.GetType()))
        {
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                if (property.GetCustomAttribute<JsonIgnoreAttribute>() is { Condition: JsonIgnoreCondition.Always }) continue;
                var name = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? Options.PropertyNamingPolicy!.ConvertName(property.Name);
                if (fields.Remove(name, out var value)) ordered[name] = value;
            }
        }
        return ordered;
    }

    public static JsonObject ToJson(VisionTransformerConfig vision) =>
        (JsonObject)JsonSerializer.SerializeToNode(vision, Options)!;

    private static IEnumerable<Type> TypeChain(Type type)
    {
        var chain = new List<Type>();
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType) chain.Add(t);
        chain.Reverse();
        return chain;
    }
}
