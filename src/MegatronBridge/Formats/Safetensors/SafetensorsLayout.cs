using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.Safetensors;

/// <summary>
/// The planned bytes of a .safetensors file before any data is written: the header (serde_json compact JSON,
/// padded with spaces to a multiple of 8 bytes, as the safetensors library writes it) and each tensor's data range.
/// </summary>
internal sealed class SafetensorsLayout
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly Dictionary<string, int> _indexOf;

    private SafetensorsLayout(List<SafetensorsEntry> entries, byte[] header)
    {
        Entries = entries;
        Header = header;
        _indexOf = new Dictionary<string, int>(entries.Count, StringComparer.Ordinal);
        for (int i = 0; i < entries.Count; i++) _indexOf[entries[i].Meta.Name] = i;
        DataLength = entries.Count == 0 ? 0 : entries[^1].DataEnd;
    }

    /// <summary>Tensors in file order; DataStart/DataEnd are relative to <see cref="DataOffset"/>.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }
    /// <summary>The 8-byte little-endian header length followed by the padded JSON header.</summary>
    public byte[] Header { get; }
    public long DataOffset => Header.Length;
    public long DataLength { get; }
    public long FileLength => DataOffset + DataLength;

    public bool TryGetIndex(string name, out int index) => _indexOf.TryGetValue(name, out index);

    public static SafetensorsLayout Plan(IEnumerable<TensorMeta> tensors, SafetensorsWriteOptions? options = null)
    {
        options ??= SafetensorsWriteOptions.Default;
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (t.Name == SafetensorsHeader.MetadataKey)
                throw new ArgumentException($"a tensor cannot be named '{SafetensorsHeader.MetadataKey}'");
            if (!names.Add(t.Name)) throw new ArgumentException($"tensor '{t.Name}' is listed twice");
        }
        if (options.Order == SafetensorsTensorOrder.LikeSafetensorsLibrary) list = SortLikeSafetensorsLibrary(list);

        var entries = new List<SafetensorsEntry>(list.Count);
        long offset = 0;
        foreach (var t in list)
        {
            long end = checked(offset + t.ByteLength);
            entries.Add(new SafetensorsEntry(t, offset, end));
            offset = end;
        }
        return new SafetensorsLayout(entries, BuildHeader(entries, options));
    }

    /// <summary>The safetensors library's order: dtype alignment rank descending, then name in code point order.</summary>
    public static List<TensorMeta> SortLikeSafetensorsLibrary(IEnumerable<TensorMeta> tensors)
    {
        return tensors.OrderByDescending(t => LibraryDTypeRank(t.DType)).ThenBy(t => t.Name, JsonText.CodePointComparer).ToList();
    }

    /// <summary>Position in the Rust <c>safetensors::Dtype</c> enum (declared in increasing alignment), which it sorts by.</summary>
    private static int LibraryDTypeRank(DType dtype) => dtype switch
    {
        DType.Bool => 0,
        DType.U8 => 1,
        DType.I8 => 2,
        DType.F8E5M2 => 3,
        DType.F8E4M3 => 4,
        DType.I16 => 5,
        DType.F16 => 6,
        DType.BF16 => 7,
        DType.I32 => 8,
        DType.F32 => 9,
        DType.F64 => 10,
        DType.I64 => 11,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    private static byte[] BuildHeader(List<SafetensorsEntry> entries, SafetensorsWriteOptions options)
    {
        var sb = new StringBuilder();
        sb.Append('{');
        bool first = true;
        void Separator()
        {
            if (!first) sb.Append(',');
            first = false;
        }
        var metadata = options.Metadata;
        if (metadata != null)
        {
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (k, _) in metadata)
                if (!keys.Add(k)) throw new ArgumentException($"metadata key '{k}' is listed twice");
        }
        if (metadata != null && options.MetadataPosition == SafetensorsMetadataPosition.First)
        {
            Separator();
            AppendMetadata(sb, metadata);
        }
        foreach (var e in entries)
        {
            Separator();
            JsonText.AppendSerdeString(sb, e.Meta.Name);
            sb.Append(":{\"dtype\":\"").Append(e.Meta.DType.SafetensorsName()).Append("\",\"shape\":[");
            for (int i = 0; i < e.Meta.Shape.Rank; i++)
            {
                if (i > 0) sb.Append(',');
                sb.Append(e.Meta.Shape[i].ToString(CultureInfo.InvariantCulture));
            }
            sb.Append("],\"data_offsets\":[").Append(e.DataStart.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(e.DataEnd.ToString(CultureInfo.InvariantCulture)).Append("]}");
        }
        if (metadata != null && options.MetadataPosition == SafetensorsMetadataPosition.Last)
        {
            Separator();
            AppendMetadata(sb, metadata);
        }
        sb.Append('}');

        string json = sb.ToString();
        int jsonLength;
        try
        {
            jsonLength = StrictUtf8.GetByteCount(json);
        }
        catch (EncoderFallbackException)
        {
            throw new ArgumentException("a tensor name or metadata string is not valid Unicode (unpaired surrogate)");
        }
        int padded = checked((jsonLength + 7) / 8 * 8);
        if (padded > SafetensorsFile.MaxHeaderBytes)
            throw new ArgumentException($"the header would be {padded} bytes, over the {SafetensorsFile.MaxHeaderBytes}-byte limit readers enforce");
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        StrictUtf8.GetBytes(json, header.AsSpan(8));
        header.AsSpan(8 + jsonLength).Fill((byte)' ');
        return header;
    }

    private static void AppendMetadata(StringBuilder sb, IReadOnlyList<KeyValuePair<string, string>> metadata)
    {
        JsonText.AppendSerdeString(sb, SafetensorsHeader.MetadataKey);
        sb.Append(":{");
        for (int i = 0; i < metadata.Count; i++)
        {
            if (i > 0) sb.Append(',');
            JsonText.AppendSerdeString(sb, metadata[i].Key);
            sb.Append(':');
            JsonText.AppendSerdeString(sb, metadata[i].Value);
        }
        sb.Append('}');
    }
}
