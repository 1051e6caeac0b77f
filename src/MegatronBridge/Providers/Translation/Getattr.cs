using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.IO;

namespace MegatronBridge.Providers;

/// <summary>
/// Python <c>getattr(cfg, name, default)</c> over a JSON config: the default only when the field is absent; a field
/// present with null yields null. Type errors and impossible values throw InvalidInputException naming the field.
/// </summary>
internal static class Getattr
{
    public static int? Int(JsonFields cfg, string name, int? absentDefault) => cfg.Has(name) ? cfg.Int(name) : absentDefault;
    public static double? Double(JsonFields cfg, string name, double? absentDefault) => cfg.Has(name) ? cfg.Double(name) : absentDefault;
    public static bool? Bool(JsonFields cfg, string name, bool? absentDefault) => cfg.Has(name) ? cfg.Bool(name) : absentDefault;

    /// <summary>A field the provider cannot do without: absent or null is an error, and it must be positive.</summary>
    public static int RequiredPositiveInt(JsonFields cfg, string name)
    {
        if (!cfg.Has(name)) throw new InvalidInputException($"{cfg.Where}: required field '{name}' is missing");
        var value = cfg.Int(name) ?? throw new InvalidInputException($"{cfg.Where}: required field '{name}' is null");
        return Positive(cfg, name, value);
    }

    /// <summary>getattr with a default, where None cannot be used by mcore (sizes): null is an error.</summary>
    public static int PositiveInt(JsonFields cfg, string name, int absentDefault)
    {
        if (!cfg.Has(name)) return absentDefault;
        var value = cfg.Int(name) ?? throw new InvalidInputException($"{cfg.Where}: field '{name}' is null but must be a positive integer");
        return Positive(cfg, name, value);
    }

    public static int Positive(JsonFields cfg, string name, int value) =>
        value > 0 ? value : throw new InvalidInputException($"{cfg.Where}: field '{name}' must be positive, got {value}");

    /// <summary>A non-nullable provider field copied from a present HF field: null is an error.</summary>
    public static T NotNull<T>(JsonFields cfg, string name, T? value) where T : struct =>
        value ?? throw new InvalidInputException($"{cfg.Where}: field '{name}' is null");

    /// <summary>The first of <paramref name="names"/> present in the config (Megatron-Bridge's tables list such
    /// alternatives as "a / b / c").</summary>
    public static string? FirstPresent(JsonFields cfg, params string[] names) => names.FirstOrDefault(cfg.Has);

    /// <summary>A dict-valued field read like <c>getattr(cfg, name, {})</c>; null is treated as empty.</summary>
    public static JsonObject? Dict(JsonFields cfg, string name) => cfg.Has(name) ? cfg.Object(name) : null;

    /// <summary><c>dict.get(key, default)</c> for a number inside a config dict.</summary>
    public static double? DictDouble(JsonFields cfg, JsonObject? dict, string dictName, string key, double? absentDefault)
    {
        if (dict is null || !dict.TryGetPropertyValue(key, out var node)) return absentDefault;
        if (node is null) return null;
        return cfg.ToDouble(node, $"{dictName}.{key}");
    }

    /// <summary><c>dict.get(key, default)</c> for a list of integers inside a config dict.</summary>
    public static IReadOnlyList<int>? DictIntList(JsonFields cfg, JsonObject? dict, string dictName, string key, IReadOnlyList<int>? absentDefault)
    {
        if (dict is null || !dict.TryGetPropertyValue(key, out var node)) return absentDefault;
        if (node is null) return null;
        if (node is not JsonArray array) throw new InvalidInputException($"{cfg.Where}: field '{dictName}.{key}' must be a list of integers");
        return array.Select((x, i) => x is not null && x.GetValueKind() == JsonValueKind.Number
            ? cfg.ToInt(x, $"{dictName}.{key}[{i}]")
            : throw new InvalidInputException($"{cfg.Where}: field '{dictName}.{key}[{i}]' must be an integer")).ToArray();
    }
}
