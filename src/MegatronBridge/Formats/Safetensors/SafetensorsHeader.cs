using System.Text.Json;
using System.Text.Unicode;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>Where the <c>__metadata__</c> entry sits among the header keys (writers differ; rewriting keeps it).</summary>
internal enum SafetensorsMetadataPosition
{
    /// <summary>Before the tensors: what the Rust/Python <c>safetensors</c> library writes.</summary>
    First,
    /// <summary>After the tensors.</summary>
    Last,
}

/// <summary>A parsed and fully validated safetensors header.</summary>
internal sealed record SafetensorsHeaderInfo(
    List<SafetensorsEntry> Entries,
    Dictionary<string, string> Metadata,
    SafetensorsMetadataPosition? MetadataPosition);

/// <summary>
/// Parses and validates a safetensors JSON header: JSON shape, dtypes, dtype x shape = byte length, no duplicate
/// names, offsets that tile the data section exactly (no overlap, no gap, nothing missing or left over).
/// </summary>
internal static class SafetensorsHeader
{
    public const string MetadataKey = "__metadata__";

    public static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) Parse(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        var info = ParseHeader(path, header.ToArray(), dataLength);
        return (info.Entries, info.Metadata);
    }

    /// <param name="path">The file, for error messages.</param>
    /// <param name="header">The header bytes (JSON, possibly padded with spaces).</param>
    /// <param name="dataLength">Bytes in the file after the header; the tensors must cover them exactly.</param>
    public static SafetensorsHeaderInfo ParseHeader(string path, ReadOnlyMemory<byte> header, long dataLength)
    {
        // JsonDocument only notices bad UTF-8 when a string is read, as InvalidOperationException: check first.
        if (!Utf8.IsValid(header.Span))
            throw new InvalidInputException($"{path}: header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: header is not valid JSON ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidInputException($"{path}: header is not a JSON object");
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            // JsonDocument keeps duplicate keys and lookups silently take one of them: check names ourselves.
            var seen = new HashSet<string>(StringComparer.Ordinal);
            int metadataIndex = -1, index = 0;
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                {
                    throw new InvalidInputException(prop.Name == MetadataKey
                        ? $"{path}: header has {MetadataKey} twice"
                        : $"{path}: tensor '{prop.Name}' appears twice in the header");
                }
                if (prop.Name == MetadataKey)
                {
                    ParseMetadata(path, prop.Value, metadata);
                    metadataIndex = index;
                }
                else
                {
                    entries.Add(ParseEntry(path, prop));
                }
                index++;
            }
            // Somewhere in the middle (no known writer does that) has no position a writer could reproduce.
            SafetensorsMetadataPosition? metadataPosition =
                metadataIndex == 0 ? SafetensorsMetadataPosition.First
                : metadataIndex == index - 1 && metadataIndex > 0 ? SafetensorsMetadataPosition.Last
                : null;
            CheckTiling(path, entries, dataLength);
            return new SafetensorsHeaderInfo(entries, metadata, metadataPosition);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new InvalidInputException($"{path}: {MetadataKey} is not an object");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw new InvalidInputException($"{path}: {MetadataKey} value '{m.Name}' is not a string");
            if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                throw new InvalidInputException($"{path}: {MetadataKey} has key '{m.Name}' twice");
        }
    }

    /// <summary>Sorted by offset, the tensors must tile [0, dataLength) exactly.</summary>
    private static void CheckTiling(string path, List<SafetensorsEntry> entries, long dataLength)
    {
        entries.Sort((a, b) => a.DataStart != b.DataStart ? a.DataStart.CompareTo(b.DataStart) : a.DataEnd.CompareTo(b.DataEnd));
        long expected = 0;
        foreach (var e in entries)
        {
            if (e.DataStart != expected)
            {
                throw new InvalidInputException(e.DataStart < expected
                    ? $"{path}: tensor '{e.Meta.Name}' overlaps the previous tensor (starts at {e.DataStart}, previous ends at {expected})"
                    : $"{path}: gap in the data before tensor '{e.Meta.Name}' (starts at {e.DataStart}, previous ends at {expected})");
            }
            expected = e.DataEnd;
            if (expected > dataLength)
                throw new InvalidInputException($"{path}: tensor '{e.Meta.Name}' ends at data byte {expected} but the file holds only {dataLength} data bytes (truncated?)");
        }
        if (expected != dataLength)
            throw new InvalidInputException($"{path}: the tensors cover {expected} data bytes but the file holds {dataLength} (trailing bytes after the last tensor)");
    }

    private static SafetensorsEntry ParseEntry(string path, JsonProperty prop)
    {
        string name = prop.Name;
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object)
            throw new InvalidInputException($"{path}: tensor '{name}': header entry is not an object");
        JsonElement? dtypeField = null, shapeField = null, offsetsField = null;
        foreach (var field in v.EnumerateObject())
        {
            // Unknown fields are ignored, as the reference implementation does; known ones must be unique.
            ref JsonElement? slot = ref dtypeField;
            switch (field.Name)
            {
                case "dtype": slot = ref dtypeField; break;
                case "shape": slot = ref shapeField; break;
                case "data_offsets": slot = ref offsetsField; break;
                default: continue;
            }
            if (slot.HasValue) throw new InvalidInputException($"{path}: tensor '{name}': field '{field.Name}' appears twice");
            slot = field.Value;
        }

        if (dtypeField is not { ValueKind: JsonValueKind.String } dt)
            throw new InvalidInputException($"{path}: tensor '{name}': missing or non-string dtype");
        if (!DTypes.TryFromSafetensorsName(dt.GetString()!, out var dtype))
            throw new InvalidInputException($"{path}: tensor '{name}': unsupported dtype '{dt.GetString()}'");

        if (shapeField is not { ValueKind: JsonValueKind.Array } sh)
            throw new InvalidInputException($"{path}: tensor '{name}': missing shape array");
        var dims = new List<long>();
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var n) || n < 0)
                throw new InvalidInputException($"{path}: tensor '{name}': invalid shape entry {d.GetRawText()}");
            dims.Add(n);
        }

        if (offsetsField is not { ValueKind: JsonValueKind.Array } off || off.GetArrayLength() != 2
            || off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number)
            throw new InvalidInputException($"{path}: tensor '{name}': data_offsets must be [begin, end]");
        if (!off[0].TryGetInt64(out var begin) || !off[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw new InvalidInputException($"{path}: tensor '{name}': invalid data_offsets {off.GetRawText()}");

        var shape = new TensorShape(dims.ToArray());
        long expectedBytes;
        try
        {
            expectedBytes = checked(shape.NumElements * dtype.Size());
        }
        catch (OverflowException)
        {
            throw new InvalidInputException($"{path}: tensor '{name}': shape {shape} is too large");
        }
        if (end - begin != expectedBytes)
            throw new InvalidInputException($"{path}: tensor '{name}': {dtype.SafetensorsName()} x {shape} needs {expectedBytes} bytes but data_offsets span {end - begin}");
        return new SafetensorsEntry(new TensorMeta(name, dtype, shape), begin, end);
    }
}
