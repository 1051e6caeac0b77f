using System.Text.Json;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>Parses and validates a safetensors JSON header.</summary>
public static class SafetensorsHeader
{
    public static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) Parse(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray());
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: header is not valid JSON ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: header is not a JSON object");
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw new InvalidDataException($"{path}: __metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new InvalidDataException($"{path}: __metadata__ value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(ParseEntry(path, prop));
            }
            entries.Sort((a, b) => a.DataStart.CompareTo(b.DataStart));
            long expected = 0;
            foreach (var e in entries)
            {
                if (e.DataStart != expected)
                {
                    throw new InvalidDataException(e.DataStart < expected
                        ? $"{path}: tensor '{e.Meta.Name}' overlaps the previous tensor (starts at {e.DataStart}, previous ends at {expected})"
                        : $"{path}: gap in the data before tensor '{e.Meta.Name}' (starts at {e.DataStart}, previous ends at {expected})");
                }
                expected = e.DataEnd;
            }
            if (expected > dataLength)
                throw new InvalidDataException($"{path}: tensor data ends at {expected} but the file holds only {dataLength} data bytes (truncated?)");
            return (entries, metadata);
        }
    }

    private static SafetensorsEntry ParseEntry(string path, JsonProperty prop)
    {
        string name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: tensor '{name}': header entry is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{path}: tensor '{name}': missing dtype");
        if (!DTypes.TryFromSafetensorsName(dt.GetString()!, out var dtype))
            throw new InvalidDataException($"{path}: tensor '{name}': unsupported dtype '{dt.GetString()}'");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{path}: tensor '{name}': missing shape");
        var dims = new List<long>();
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var n) || n < 0)
                throw new InvalidDataException($"{path}: tensor '{name}': invalid shape entry {d}");
            dims.Add(n);
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new InvalidDataException($"{path}: tensor '{name}': data_offsets must be [begin, end]");
        if (!off[0].TryGetInt64(out var begin) || !off[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw new InvalidDataException($"{path}: tensor '{name}': invalid data_offsets {off}");
        var shape = new TensorShape(dims.ToArray());
        long expectedBytes;
        try
        {
            expectedBytes = checked(shape.NumElements * dtype.Size());
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{path}: tensor '{name}': shape {shape} is too large");
        }
        if (end - begin != expectedBytes)
            throw new InvalidDataException($"{path}: tensor '{name}': {dtype.SafetensorsName()} x {shape} needs {expectedBytes} bytes but data_offsets span {end - begin}");
        return new SafetensorsEntry(new TensorMeta(name, dtype, shape), begin, end);
    }
}
