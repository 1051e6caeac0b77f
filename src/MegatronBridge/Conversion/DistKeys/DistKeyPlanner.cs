using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion.DistKeys;

/// <summary>
/// Turns in-memory Megatron parameters (TP=1, full tensors, as the mapping produces them) into the keys and chunks
/// megatron-core's sharded_state_dict writes to a torch_dist checkpoint, and back (docs/formats.md, Keys and chunks).
/// What is stored where is each parameter's <see cref="DistLayout"/>, stated by the model block that built it: its key,
/// the stacked layer / expert axes it sits on, and whether its rows are whole, two gated halves of one key, or named
/// sections stored as separate keys. Generic megatron-core conventions stay here: MTP's inner layer under its legacy
/// name <c>transformer_layer</c> (or <see cref="DistKeyOptions.MtpLayerName"/>), and one <c>_extra_state</c> object per
/// TransformerEngine linear.
/// </summary>
internal static class DistKeyPlanner
{
    /// <summary>
    /// Plans the torch_dist keys of a model from its in-memory parameters, in the given order, each stored in the dtype
    /// <paramref name="dtypeOf"/> gives it.
    /// </summary>
    public static DistKeyPlan Plan(IEnumerable<MegatronParam> parameters, Func<MegatronParam, DType> dtypeOf, DistKeyOptions options)
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
            var layout = param.Dist
                         ?? throw new InvalidOperationException($"{param.Name}: no torch_dist layout (the parameter was not built by a model tree)");
            string keyPrefix = MtpLayerNames.Rename(layout.Key, options.MtpLayerName);
            var prependShape = layout.Axes.Select(a => a.Length).ToArray();
            var prependOffsets = layout.Axes.Select(a => a.Index).ToArray();
            var dtype = dtypeOf(param);
            var dims = param.Shape.ToArray();
            long rows = dims.Length == 0 ? 1 : dims[0];

            // Row sections of one parameter that become separate keys or separate chunks.
            foreach (var section in Sections(param.Name, layout.Rows, rows))
            {
                var localShape = dims.Length == 0 ? Array.Empty<long>() : dims.ToArray();
                if (localShape.Length > 0) localShape[0] = section.Rows;
                var keyShape = localShape.ToArray();
                if (keyShape.Length > 0) keyShape[0] = section.KeyRows;
                var globalShape = prependShape.Concat(keyShape).ToArray();
                var offsets = prependOffsets.Concat(localShape.Select((_, i) => i == 0 ? section.KeyRowOffset : 0L)).ToArray();
                var sizes = prependShape.Select(_ => 1L).Concat(localShape).ToArray();
                int? hint = section.TwoChunk && prependShape.Length == 0 ? section.ChunkIndex : null;
                AddChunk(keyPrefix + section.KeySuffix, dtype, globalShape,
                    new DistChunk(param.Name, section.RowStart, section.Rows, offsets, sizes, hint));
            }

            var module = ExtraStateModule(keyPrefix);
            if (module != null)
            {
                var objectKey = module + "._extra_state";
                var value = module.EndsWith("output_layer", StringComparison.Ordinal) ? ExtraStateValue.None : ExtraStateValue.EmptyUint8Tensor;
                if (prependShape.Length == 0) AddObject(objectKey, new long[] { 0 }, new long[] { 1 }, value);
                else AddObject(objectKey, prependOffsets, prependShape, value);
            }
        }
        return new DistKeyPlan(keys, objects);
    }

    private sealed record Section(string KeySuffix, long RowStart, long Rows, long KeyRows, long KeyRowOffset, bool TwoChunk, int ChunkIndex);

    private static List<Section> Sections(string param, DistRows layout, long rows)
    {
        switch (layout.Kind)
        {
            case DistRowsKind.Sections:
            {
                long total = layout.Sections.Sum(s => s.Rows);
                if (total != rows)
                    throw new InvalidOperationException($"'{param}' has {rows} rows, its torch_dist sections ({layout}) add up to {total}");
                var result = new List<Section>();
                long at = 0;
                foreach (var s in layout.Sections)
                {
                    result.Add(new Section("." + s.Name, at, s.Rows, s.Rows, 0, false, 0));
                    at += s.Rows;
                }
                return result;
            }
            case DistRowsKind.GatedHalves:
            {
                if (rows % 2 != 0) throw new InvalidOperationException($"gated linear_fc1 '{param}' has an odd number of rows ({rows})");
                long half = rows / 2;
                return new List<Section>
                {
                    new("", 0, half, rows, 0, true, 0),
                    new("", half, half, rows, half, true, 1),
                };
            }
            default:
                return new List<Section> { new("", 0, rows, rows, 0, false, 0) };
        }
    }

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
