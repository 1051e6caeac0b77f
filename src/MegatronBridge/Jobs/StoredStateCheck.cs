using System.Security.Cryptography;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// The non-tensor state of a Megatron checkpoint against what <c>import</c> writes: TransformerEngine
/// <c>_extra_state</c> entries (None for Megatron's own output layer, an empty uint8 tensor for every other linear
/// module) and the common state (checkpoint_version 3.0, iteration 0, and for torch_dist the content metadata).
/// A checkpoint holding what import never writes (args in its common state, optimizer or rng state beside the weights,
/// <c>common.pt</c>: trained or saved by Megatron) was not written by import: its common state and extra states are listed as not checked rather than failed, since
/// training legitimately changes them (FP8 scaling state, the iteration).
/// </summary>
internal static class StoredStateCheck
{
    /// <summary>What a torch_dist checkpoint's bytes objects (extra states, common state) hold against import's bytes.</summary>
    /// <param name="unmappedKeys">Stored keys no parameter uses: optimizer state and the like, which import never writes.</param>
    public static (List<TensorVerification> Checked, List<string> NotChecked) TorchDist(TorchDistCheckpoint checkpoint, IReadOnlyCollection<string> unmappedKeys)
    {
        var checkedStates = new List<TensorVerification>();
        var notChecked = new List<string>();
        // Training state (optimizer tensors, rng and rerun-state objects) beside the weights: saved by a training run.
        bool writtenByImport = unmappedKeys.Count == 0;
        if (File.Exists(Path.Combine(checkpoint.Folder, "common.pt")))
        {
            // import never writes common.pt (megatron-core <= 0.18 did): another writer's common state.
            writtenByImport = false;
            notChecked.Add("common.pt (not written by import)");
        }
        if (checkpoint.ObjectKeys.Contains(TorchDistCheckpoint.CommonStateKey))
        {
            var expected = new List<object?> { TorchDistImport.CommonState(0) };
            if (writtenByImport && !HoldsMoreThanImport(checkpoint, TorchDistCheckpoint.CommonStateKey))
                checkedStates.Add(CompareObject(checkpoint, TorchDistCheckpoint.CommonStateKey, expected));
            else
            {
                writtenByImport = false;
                notChecked.Add($"{TorchDistCheckpoint.CommonStateKey} (not written by import)");
            }
        }
        foreach (var key in checkpoint.ObjectKeys.Where(k => k != TorchDistCheckpoint.CommonStateKey))
        {
            int slash = key.IndexOf('/');
            var name = slash < 0 ? key : key[..slash];
            if (!name.EndsWith(TorchLegacyImport.ExtraStateSuffix, StringComparison.Ordinal)) continue;
            if (!writtenByImport)
            {
                notChecked.Add($"{key} (not written by import)");
                continue;
            }
            // As megatron-bridge's import leaves them (DistKeyPlanner follows it): None for the output layer.
            object? value = name.EndsWith("output_layer" + TorchLegacyImport.ExtraStateSuffix, StringComparison.Ordinal) ? null : TorchDistWriter.EmptyUInt8Tensor();
            checkedStates.Add(CompareObject(checkpoint, key, new List<object?> { value }));
        }
        return (checkedStates, notChecked);
    }

    /// <summary>Whether the object's dict holds keys import does not write (a trained checkpoint's args, optimizer, ...).</summary>
    private static bool HoldsMoreThanImport(TorchDistCheckpoint checkpoint, string key)
    {
        object? value;
        try
        {
            value = checkpoint.GetObject(key);
        }
        catch (InvalidInputException)
        {
            return false; // unreadable: compared byte for byte, and reported as differing
        }
        if (value is not List<object?> { Count: 1 } list || list[0] is not PyDict dict) return false;
        var written = TorchDistImport.CommonState(0);
        return dict.Items.Any(kv => kv.Key is not string s || !written.ContainsKey(s));
    }

    /// <summary>The stored bytes of one object against torch.save of what import writes there.</summary>
    private static TensorVerification CompareObject(TorchDistCheckpoint checkpoint, string key, List<object?> expectedValue)
    {
        using var buffer = new MemoryStream();
        TorchSave.Prepare(expectedValue).WriteTo(buffer);
        var expected = buffer.ToArray();
        var item = checkpoint.Metadata.StorageData.FirstOrDefault(s => s.Key.Fqn == key && s.Key.Offset is null)
                   ?? throw new InvalidInputException($"{checkpoint.Folder}: object '{key}' has no storage entry in {TorchDistWriter.MetadataFileName}");
        var stored = new byte[item.Info.Length];
        using (var handle = File.OpenHandle(Path.Combine(checkpoint.Folder, item.Info.RelativePath)))
        {
            int n = RandomAccess.Read(handle, stored, item.Info.Offset);
            if (n != stored.Length) throw new InvalidInputException($"{Path.Combine(checkpoint.Folder, item.Info.RelativePath)}: object '{key}' is cut short");
        }
        long? first = null;
        int common = expected.AsSpan().CommonPrefixLength(stored);
        if (common < expected.Length || common < stored.Length) first = common;
        return new TensorVerification($"{key} (stored object)", Array.Empty<string>(), DType.U8, new TensorShape(new long[] { stored.Length }), stored.Length,
            Convert.ToHexStringLower(SHA256.HashData(expected)), Convert.ToHexStringLower(SHA256.HashData(stored)), first);
    }

    /// <summary>
    /// Every legacy rank file's extra states and top-level entries against what import writes (by value: the file is one
    /// pickle, whose bytes the tensor comparison and the unpickler already cover).
    /// </summary>
    public static (List<TensorVerification> Checked, List<string> NotChecked) Legacy(string iterationFolder)
    {
        var checkedStates = new List<TensorVerification>();
        var notChecked = new List<string>();
        foreach (var folder in LegacyRankFolders.List(iterationFolder))
        {
            using var file = LegacyCheckpointFile.Open(folder.File, modelKey: null);
            if (file.Args != null || file.OtherStateKeys.Count > 0)
            {
                notChecked.Add($"{folder.Name}: args, {string.Join(", ", file.OtherStateKeys)}, checkpoint_version, iteration and extra states (not written by import)");
                continue;
            }
            checkedStates.Add(Value(folder, "checkpoint_version", file.CheckpointVersion?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none", "3"));
            checkedStates.Add(Value(folder, "iteration", file.Iteration?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none", "0"));
            foreach (var key in file.ModelKeys)
            {
                foreach (var t in file.ChunkTensors(key).Where(t => t.Name.EndsWith(TorchLegacyImport.ExtraStateSuffix, StringComparison.Ordinal)))
                    checkedStates.Add(Value(folder, $"{key}.{t.Name}", $"tensor {t.DType.SafetensorsName()} {t.Shape}",
                        t.Name.EndsWith("output_layer" + TorchLegacyImport.ExtraStateSuffix, StringComparison.Ordinal) ? "None" : $"tensor U8 {new TensorShape(new long[] { 0 })}"));
            }
            foreach (var (name, value) in file.ModelExtras.Where(e => e.Key.EndsWith(TorchLegacyImport.ExtraStateSuffix, StringComparison.Ordinal)))
                checkedStates.Add(Value(folder, name, value is null ? "None" : PyFormat.Repr(value),
                    name.EndsWith("output_layer" + TorchLegacyImport.ExtraStateSuffix, StringComparison.Ordinal) ? "None" : $"tensor U8 {new TensorShape(new long[] { 0 })}"));
        }
        return (checkedStates, notChecked);
    }

    private static TensorVerification Value(LegacyRankFolder folder, string entry, string stored, string expected)
    {
        var storedBytes = System.Text.Encoding.UTF8.GetBytes(stored);
        var expectedBytes = System.Text.Encoding.UTF8.GetBytes(expected);
        long? first = stored == expected ? null : storedBytes.AsSpan().CommonPrefixLength(expectedBytes);
        return new TensorVerification($"{entry} (stored value at {folder.Name}: {stored}, import writes {expected})", Array.Empty<string>(), DType.U8,
            new TensorShape(new long[] { storedBytes.Length }), storedBytes.Length,
            Convert.ToHexStringLower(SHA256.HashData(expectedBytes)), Convert.ToHexStringLower(SHA256.HashData(storedBytes)), first);
    }
}
