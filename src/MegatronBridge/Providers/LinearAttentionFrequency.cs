using System.Text.Json;
using System.Text.Json.Serialization;

namespace MegatronBridge.Providers;

/// <summary>
/// mcore's <c>linear_attention_freq</c>: either an int N (layer i is standard attention iff (i+1) % N == 0) or an
/// explicit per-layer list (1 = Gated DeltaNet, 0 = attention). Serialised as the int or the list, like Python.
/// </summary>
[JsonConverter(typeof(LinearAttentionFrequencyJsonConverter))]
public sealed record LinearAttentionFrequency
{
    private LinearAttentionFrequency(int? interval, IReadOnlyList<int>? pattern)
    {
        Interval = interval;
        Pattern = pattern;
    }

    /// <summary>The int form, or null when the list form is used.</summary>
    public int? Interval { get; }
    /// <summary>The list form (values 0 or 1), or null when the int form is used.</summary>
    public IReadOnlyList<int>? Pattern { get; }

    public static LinearAttentionFrequency Every(int interval) =>
        interval > 0 ? new(interval, null) : throw new ArgumentOutOfRangeException(nameof(interval), interval, "linear_attention_freq must be positive");

    public static LinearAttentionFrequency FromPattern(IReadOnlyList<int> pattern)
    {
        if (pattern.Any(v => v is not (0 or 1))) throw new ArgumentException("linear_attention_freq list entries must be 0 or 1", nameof(pattern));
        return new(null, pattern.ToArray());
    }

    /// <summary>The kind of every layer (mcore get_linear_attention_pattern).</summary>
    public IReadOnlyList<DecoderLayerKind> LayerKinds(int numLayers)
    {
        if (Pattern is not null)
        {
            if (Pattern.Count != numLayers)
                throw new InvalidOperationException($"linear_attention_freq has {Pattern.Count} entries but the model has {numLayers} layers");
            return Pattern.Select(v => v == 1 ? DecoderLayerKind.GatedDeltaNet : DecoderLayerKind.Attention).ToArray();
        }
        var n = Interval!.Value;
        return Enumerable.Range(0, numLayers).Select(i => (i + 1) % n == 0 ? DecoderLayerKind.Attention : DecoderLayerKind.GatedDeltaNet).ToArray();
    }

    public bool Equals(LinearAttentionFrequency? other) =>
        other is not null && Interval == other.Interval &&
        (Pattern is null ? other.Pattern is null : other.Pattern is not null && Pattern.SequenceEqual(other.Pattern));

    public override int GetHashCode() => Pattern is null ? Interval.GetHashCode() : Pattern.Aggregate(17, (h, v) => h * 31 + v);

    public override string ToString() => Pattern is null ? Interval!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) : "[" + string.Join(", ", Pattern) + "]";
}

internal sealed class LinearAttentionFrequencyJsonConverter : JsonConverter<LinearAttentionFrequency>
{
    public override LinearAttentionFrequency Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number) return LinearAttentionFrequency.Every(reader.GetInt32());
        var list = JsonSerializer.Deserialize<int[]>(ref reader, options) ?? throw new JsonException("linear_attention_freq must be an int or a list of 0/1");
        return LinearAttentionFrequency.FromPattern(list);
    }

    public override void Write(Utf8JsonWriter writer, LinearAttentionFrequency value, JsonSerializerOptions options)
    {
        if (value.Pattern is null)
        {
            writer.WriteNumberValue(value.Interval!.Value);
            return;
        }
        writer.WriteStartArray();
        foreach (var v in value.Pattern) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }
}
