using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;
using Xunit.Sdk;

namespace MegatronBridge.Tests.Cli;

/// <summary>Compares one field of a JSON object with an expected C# value (exact; numbers compared as numbers).</summary>
internal static class JsonAssert
{
    public static void Field(JsonObject actual, string field, object? expected)
    {
        if (!actual.TryGetPropertyValue(field, out var node)) throw new XunitException($"field '{field}' is missing");
        try
        {
            Value(node, expected);
        }
        catch (Exception e) when (e is XunitException or InvalidOperationException or FormatException)
        {
            throw new XunitException($"field '{field}': expected {Describe(expected)}, got {node?.ToJsonString() ?? "null"} ({e.Message})");
        }
    }

    private static void Value(JsonNode? node, object? expected)
    {
        switch (expected)
        {
            case null:
                Assert.Null(node);
                break;
            case bool b:
                Assert.Equal(b, node!.GetValue<bool>());
                break;
            case string s:
                Assert.Equal(s, node!.GetValue<string>());
                break;
            case int i:
                Assert.Equal(JsonValueKind.Number, node!.GetValueKind());
                Assert.Equal(i, node.GetValue<double>());
                break;
            case double d:
                Assert.Equal(JsonValueKind.Number, node!.GetValueKind());
                Assert.Equal(d, node.GetValue<double>());
                break;
            case int[] list:
                Assert.Equal(list, node!.AsArray().Select(n => n!.GetValue<int>()));
                break;
            default:
                throw new ArgumentException($"unsupported expected type {expected.GetType()}");
        }
    }

    private static string Describe(object? expected) => expected switch
    {
        null => "null",
        int[] list => "[" + string.Join(", ", list) + "]",
        _ => Convert.ToString(expected, System.Globalization.CultureInfo.InvariantCulture)!,
    };
}
