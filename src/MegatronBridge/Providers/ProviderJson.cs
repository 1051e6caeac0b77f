using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MegatronBridge.Providers;

/// <summary>Providers as JSON objects keyed by the Python field names (the runtime type decides which fields).</summary>
public static class ProviderJson
{
    /// <summary>All serialised fields, base-class fields first (the order a Python dataclass lists them).</summary>
    public static JsonObject ToJson(GptModelProvider provider)
    {
        var fields = (JsonObject)JsonSerializer.SerializeToNode(provider, provider.GetType())!;
        var ordered = new JsonObject();
        foreach (var type in TypeChain(provider.GetType()))
        {
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                var name = property.GetCustomAttribute<System.Text.Json.Serialization.JsonPropertyNameAttribute>()?.Name;
                if (name is not null && fields.Remove(name, out var value)) ordered[name] = value;
            }
        }
        return ordered;
    }

    public static JsonObject ToJson(VisionTransformerConfig vision) =>
        (JsonObject)JsonSerializer.SerializeToNode(vision)!;

    private static IEnumerable<Type> TypeChain(Type type)
    {
        var chain = new List<Type>();
        for (var t = type; t is not null && t != typeof(object); t = t.BaseType) chain.Add(t);
        chain.Reverse();
        return chain;
    }
}
