using System.Text.RegularExpressions;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.DistKeys;

/// <summary>
/// Turns in-memory Megatron parameter names (TP=1, full tensors, as the mapping produces them) into the keys and chunks
/// megatron-core's sharded_state_dict writes to a torch_dist checkpoint, and back. Rules (docs/formats.md, Keys and
/// chunks): per-layer or stacked layer keys, an expert axis for grouped experts, GDN in_proj / conv1d split into named
/// sub-keys, gated linear_fc1 saved as two halves of one key, MTP's inner layer under its legacy name
/// <c>transformer_layer</c> (or <see cref="DistKeyOptions.MtpLayerName"/>), and one <c>_extra_state</c> object per TransformerEngine linear.
/// </summary>
internal static partial class DistKeyPlanner
{
    private static readonly string[] GdnInProjParts = { "query", "key", "value", "z", "beta", "alpha" };
    private static readonly string[] GdnConvParts = { "query", "key", "value" };

    [GeneratedRegex(@"^(?<pre>(?:language_model\.)?decoder\.layers\.)(?<layer>\d+)\.(?<rest>.+)$")]
    private static partial Regex LanguageLayer();

    [GeneratedRegex(@"^(?<pre>vision_model\.decoder\.layers\.)(?<layer>\d+)\.(?<rest>.+)$")]
    private static partial Regex VisionLayer();

    [GeneratedRegex(@"^(?<pre>vision_model\.decoder\.deepstack_merger_list\.)(?<layer>\d+)\.(?<rest>.+)$")]
    private static partial Regex DeepstackLayer();

    [GeneratedRegex(@"^(?<pre>(?:language_model\.)?mtp\.layers\.\d+\.)mtp_model_layer\.(?<rest>.+)$")]
    private static partial Regex MtpInner();

    [GeneratedRegex(@"^(?<module>.+\.mlp\.experts\.linear_fc[12])\.weight(?<expert>\d+)$")]
    private static partial Regex GroupedExpert();

    /// <summary>Plans the torch_dist keys of a model from its in-memory parameters, in the given order.</summary>
    public static DistKeyPlan Plan(IEnumerable<TensorMeta> parameters, DistKeyOptions options)
    {
        var keys = new List<DistTensorKey>();
        var byKey = new Dictionary<string, (DType DType, long[] Shape, List<DistChunk> Chunks)>(StringComparer.Ordinal);
        var objects = new List<DistObjectKey>();
        var seenObjects = new HashSet<string>(StringComparer.Ordinal);

        void AddChunk(string key, DType dtype, long[] globalShape, DistChunk chunk)
        {
            if (!byKey.TryGetValue(key, out var entry))
            {
                entry = (dtype, globalShape, new List<DistChunk>());
                byKey[key] = entry;
                keys.Add(new DistTensorKey(key, dtype, globalShape, entry.Chunks));
            }
            else if (entry.DType != dtype || !entry.Shape.AsSpan().SequenceEqual(globalShape))
            {
                throw new InvalidOperationException($"{key}: parameter {chunk.Param} disagrees with earlier chunks on dtype or global shape");
            }
            entry.Chunks.Add(chunk);
        }

        void AddObject(string key, long[] offsets, long[] shape, ExtraStateValue value)
        {
            var unique = $"{key}/shard_{string.Join('.', offsets)}_{string.Join('.', shape)}";
            if (seenObjects.Add(unique)) objects.Add(new DistObjectKey(unique, value));
        }

        foreach (var param in parameters)
        {
            var located = Locate(param.Name, options);
            var dims = param.Shape.ToArray();
            long rows = dims.Length == 0 ? 1 : dims[0];

            // Row sections of one parameter that become separate keys or separate chunks.
            bool vision = param.Name.StartsWith("vision_model.", StringComparison.Ordinal);
            var sections = Sections(located.Rest, rows, options, gatedFc1: !vision);
            foreach (var section in sections)
            {
                var localShape = dims.Length == 0 ? Array.Empty<long>() : dims.ToArray();
                if (localShape.Length > 0) localShape[0] = section.Rows;
                var keyShape = localShape.ToArray();
                if (keyShape.Length > 0) keyShape[0] = section.KeyRows;
                var globalShape = located.PrependShape.Concat(keyShape).ToArray();
                var offsets = located.PrependOffsets.Concat(localShape.Select((_, i) => i == 0 ? section.KeyRowOffset : 0L)).ToArray();
                var sizes = located.PrependShape.Select(_ => 1L).Concat(localShape).ToArray();
                int? hint = section.TwoChunk && located.PrependShape.Length == 0 ? section.ChunkIndex : null;
                AddChunk(located.KeyPrefix + section.KeySuffix, param.DType, globalShape,
                    new DistChunk(param.Name, section.RowStart, section.Rows, offsets, sizes, hint));
            }

            var module = ExtraStateModule(located.KeyPrefix);
            if (module != null)
            {
                var objectKey = module + "._extra_state";
                var value = module.EndsWith("output_layer", StringComparison.Ordinal) ? ExtraStateValue.None : ExtraStateValue.EmptyUint8Tensor;
                if (located.PrependShape.Length == 0) AddObject(objectKey, new long[] { 0 }, new long[] { 1 }, value);
                else AddObject(objectKey, located.PrependOffsets, located.PrependShape, value);
            }
        }
        return new DistKeyPlan(keys, objects);
    }

    private sealed record Located(string KeyPrefix, string Rest, long[] PrependShape, long[] PrependOffsets);

    /// <summary>
    /// Splits a parameter name into the key it is stored under (without section suffix) and the leading
    /// layer / expert axes it gains.
    /// </summary>
    private static Located Locate(string name, DistKeyOptions options)
    {
        var prepend = new List<long>();
        var offsets = new List<long>();
        string key = name;

        var mtp = MtpInner().Match(key);
        if (mtp.Success) key = mtp.Groups["pre"].Value + options.MtpLayerName + "." + mtp.Groups["rest"].Value;

        Match m;
        if (!options.LanguagePerLayer && (m = LanguageLayer().Match(key)).Success)
        {
            key = m.Groups["pre"].Value + m.Groups["rest"].Value;
            prepend.Add(options.NumLayers);
            offsets.Add(long.Parse(m.Groups["layer"].Value));
        }
        else if ((m = VisionLayer().Match(key)).Success)
        {
            key = m.Groups["pre"].Value + m.Groups["rest"].Value;
            prepend.Add(options.VisionDepth);
            offsets.Add(long.Parse(m.Groups["layer"].Value));
        }
        else if ((m = DeepstackLayer().Match(key)).Success)
        {
            key = m.Groups["pre"].Value + m.Groups["rest"].Value;
            prepend.Add(options.DeepstackMergers);
            offsets.Add(long.Parse(m.Groups["layer"].Value));
        }

        var expert = GroupedExpert().Match(key);
        if (expert.Success)
        {
            key = expert.Groups["module"].Value + ".weight";
            prepend.Add(options.NumExperts);
            offsets.Add(long.Parse(expert.Groups["expert"].Value));
        }

        // Rest = the part after the last layer prefix, used to recognise the parameter kind.
        string rest = RestOf(key);
        return new Located(key, rest, prepend.ToArray(), offsets.ToArray());
    }

    private static string RestOf(string key)
    {
        foreach (var marker in new[] { ".transformer_layer.", ".mtp_model_layer.", "decoder.layers.", "deepstack_merger_list." })
        {
            int i = key.LastIndexOf(marker, StringComparison.Ordinal);
            if (i >= 0)
            {
                var after = key[(i + marker.Length)..];
                // Per-layer keys keep the layer number: skip it.
                int dot = after.IndexOf('.');
                if (dot > 0 && after[..dot].All(char.IsDigit)) after = after[(dot + 1)..];
                return after;
            }
        }
        int lastTop = key.StartsWith("language_model.", StringComparison.Ordinal) ? "language_model.".Length
            : key.StartsWith("vision_model.", StringComparison.Ordinal) ? "vision_model.".Length : 0;
        return key[lastTop..];
    }

    private sealed record Section(string KeySuffix, long RowStart, long Rows, long KeyRows, long KeyRowOffset, bool TwoChunk, int ChunkIndex);

    private static List<Section> Sections(string rest, long rows, DistKeyOptions o, bool gatedFc1)
    {
        if (rest == "self_attention.in_proj.weight")
        {
            long[] sizes = { o.GdnQkDim, o.GdnQkDim, o.GdnVDim, o.GdnVDim, o.GdnValueHeads, o.GdnValueHeads };
            return Split(GdnInProjParts, sizes, rows, rest);
        }
        if (rest == "self_attention.conv1d.weight")
        {
            long[] sizes = { o.GdnQkDim, o.GdnQkDim, o.GdnVDim };
            return Split(GdnConvParts, sizes, rows, rest);
        }
        if (gatedFc1 && IsGatedFc1(rest))
        {
            if (rows % 2 != 0) throw new InvalidOperationException($"gated linear_fc1 '{rest}' has an odd number of rows ({rows})");
            long half = rows / 2;
            return new List<Section>
            {
                new("", 0, half, rows, 0, true, 0),
                new("", half, half, rows, half, true, 1),
            };
        }
        return new List<Section> { new("", 0, rows, rows, 0, false, 0) };
    }

    private static List<Section> Split(string[] names, long[] sizes, long rows, string rest)
    {
        if (sizes.Sum() != rows)
            throw new InvalidOperationException($"'{rest}' has {rows} rows, the GDN sections add up to {sizes.Sum()}");
        var result = new List<Section>();
        long at = 0;
        for (int i = 0; i < names.Length; i++)
        {
            result.Add(new Section("." + names[i], at, sizes[i], sizes[i], 0, false, 0));
            at += sizes[i];
        }
        return result;
    }

    /// <summary>SwiGLU fc1 weights of the language model, shared experts, grouped experts and MTP (vision MLPs are not gated).</summary>
    private static bool IsGatedFc1(string rest) =>
        rest is "mlp.linear_fc1.weight" or "mlp.shared_experts.linear_fc1.weight" or "mlp.experts.linear_fc1.weight";

    private static readonly HashSet<string> TransformerEngineLinears = new(StringComparer.Ordinal)
    {
        "linear_qkv", "linear_proj", "in_proj", "out_proj", "linear_fc1", "linear_fc2", "eh_proj", "output_layer",
    };

    /// <summary>
    /// The linear module (full key path) whose _extra_state accompanies this weight key, if any: every
    /// TransformerEngine linear, and Megatron's own output layer (which stores None).
    /// </summary>
    private static string? ExtraStateModule(string key)
    {
        if (!key.EndsWith(".weight", StringComparison.Ordinal)) return null;
        var module = key[..^".weight".Length];
        var last = module[(module.LastIndexOf('.') + 1)..];
        return TransformerEngineLinears.Contains(last) ? module : null;
    }
}
