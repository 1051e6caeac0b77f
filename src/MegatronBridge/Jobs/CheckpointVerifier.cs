using System.Security.Cryptography;
using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// Proves a Megatron checkpoint holds exactly what an HF checkpoint maps to: the import mapping is planned again and
/// every parameter's recipe output over the HF tensors is compared, byte for byte and by SHA-256, with the tensor
/// stored in the Megatron checkpoint. Both sides stream through bounded row blocks. The tool to run after copying
/// checkpoints between clusters.
/// </summary>
public static class CheckpointVerifier
{
    public const int DefaultBlockBytes = 16 << 20;

    /// <param name="onProgress">Called with (bytes verified, total bytes) as it goes.</param>
    /// <param name="languageOnly">
    /// Whether the Megatron checkpoint holds only the language model of a VL checkpoint (<c>import --language-only</c>);
    /// null detects it as export does (a VL config whose checkpoint has no <c>language_model.</c> names).
    /// </param>
    public static VerificationResult Verify(string hfModel, string megatronPath, Action<long, long>? onProgress = null,
        bool? languageOnly = null, IReadOnlyCollection<string>? ignoredHfTensors = null) =>
        Verify(hfModel, megatronPath, DefaultBlockBytes, onProgress, null, languageOnly, ignoredHfTensors);

    /// <param name="blockBytes">The most bytes of one tensor read at a time from each side.</param>
    internal static VerificationResult Verify(string hfModel, string megatronPath, int blockBytes, Action<long, long>? onProgress = null,
        RecipeExecutor? executor = null, bool? languageOnly = null, IReadOnlyCollection<string>? ignoredHfTensors = null)
    {
        var ignored = ignoredHfTensors ?? Array.Empty<string>();
        executor ??= new RecipeExecutor();
        using var hfCheckpoint = SafetensorsCheckpoint.Open(hfModel);
        var config = HfConfig.LoadFromFolder(hfModel);
        using var opened = OpenedMegatronCheckpoint.Open(megatronPath, config, hfModel, languageOnly);
        // An FP8 release is compared through its dequantised values, as an import writes them: dequantised straight to
        // the dtype each parameter is stored in (an import with --torch-dtype float32 keeps the unrounded products).
        // A vocabulary padded by Megatron-LM: the stored rows beyond the HF vocab_size must be the zeros an import writes.
        ITensorSource View(ITensorSource source) => opened.PaddedHfVocab(opened.LanguageModelView(source));
        var lmView = opened.LanguageModelView(HfWeights.Dequantized(hfCheckpoint, hfModel));
        // A checkpoint converted or trained without MTP holds what a provider without MTP builds: check that, and
        // leave the HF checkpoint's mtp.* tensors unread.
        if (opened.MtpAbsent) ignored = ignored.Concat(MtpSelection.HfTensors(lmView.Tensors)).ToList();
        var mtpLeftOut = opened.MtpLeftOut(lmView.Tensors);
        var mapping = opened.Map(lmView.Tensors);
        ITensorSource hf = opened.PaddedHfVocab(lmView);
        var bridge = opened.Bridge;
        var folder = opened.Checkpoint.Folder;
        var sources = new Dictionary<DType, ITensorSource>();
        ITensorSource HfFor(DType stored)
        {
            if (!sources.TryGetValue(stored, out var source))
                sources[stored] = source = hfCheckpoint.Tensors.Any(t => t.DType == DType.F8E4M3) && stored.IsFloating() && stored != DType.F8E4M3
                    ? View(HfWeights.Dequantized(hfCheckpoint, hfModel, stored)) : hf;
            return source;
        }

        var megatron = opened.Parameters();
        if (megatron.Legacy is { } legacy)
        {
            // Legacy per-rank files: gathered shards named as the export plan expects, in the layout they were saved with.
            var results = CompareAll(mapping, HfFor, hf, hfModel, legacy, legacy.Layout, t => t.ShardName, executor, blockBytes, onProgress, ignored);
            var replicas = legacy.Replicas.Select(r => CompareReplica(r, legacy, results, blockBytes)).ToList();
            var (legacyStates, legacyNotChecked) = StoredStateCheck.Legacy(folder);
            return new VerificationResult(Path.GetFullPath(hfModel), folder, bridge.Architecture, bridge.BridgeName, results, legacy.SkippedKeys)
            {
                Replicas = replicas,
                States = legacyStates,
                NotChecked = legacyNotChecked,
                MtpLeftOut = mtpLeftOut,
            };
        }
        var checkpoint = opened.Checkpoint.TorchDist!;
        var (stored, unmapped) = (megatron.Source, megatron.SkippedKeys);
        var checks = CompareAll(mapping, HfFor, hf, hfModel, stored, ParallelLayout.Single, t => t.LocalName, executor, blockBytes, onProgress, ignored);
        var (states, notChecked) = StoredStateCheck.TorchDist(checkpoint, unmapped);
        var unmappedKeys = unmapped.ToHashSet(StringComparer.Ordinal);
        return new VerificationResult(Path.GetFullPath(hfModel), folder, bridge.Architecture, bridge.BridgeName, checks, unmapped)
        {
            // One parameter may be stored under several keys: each key its parameters cover is a stored tensor checked.
            StoredTensorCount = checkpoint.Tensors.Count(t => !unmappedKeys.Contains(t.Name)),
            States = states,
            NotChecked = notChecked,
            MtpLeftOut = mtpLeftOut,
        };
    }

    /// <summary>
    /// Plans the import in <paramref name="layout"/> and compares each distinct stored tensor (named by
    /// <paramref name="storedName"/>) with its recipe over the HF checkpoint.
    /// </summary>
    private static List<TensorVerification> CompareAll(ModelMapping mapping, Func<DType, ITensorSource> hfFor, ITensorSource hf, string hfModel, ITensorSource stored,
        ParallelLayout layout, Func<LocalTensor, string> storedName, RecipeExecutor executor, int blockBytes, Action<long, long>? onProgress,
        IReadOnlyCollection<string> ignoredHfTensors)
    {
        // Megatron keeps each parameter in its own dtype (an import may have cast): plan once per stored dtype.
        var plans = new Dictionary<DType, Dictionary<string, LocalTensor>>();
        Dictionary<string, LocalTensor> PlanFor(DType dtype)
        {
            if (!plans.TryGetValue(dtype, out var byName))
            {
                var plan = ImportPlan.Create(mapping, hfFor(dtype).Tensors, layout, new ImportOptions { ParamDType = dtype, IgnoredHfTensors = ignoredHfTensors }, hfModel);
                byName = new Dictionary<string, LocalTensor>(StringComparer.Ordinal);
                // Replicas (EP ranks, other stages) share a stored name and a recipe: check each once.
                foreach (var t in plan.Tensors.Where(t => !t.IsDuplicate)) byName.TryAdd(storedName(t), t);
                plans[dtype] = byName;
            }
            return byName;
        }

        var names = PlanFor(hf.Tensors.Count > 0 ? hf.Tensors[0].DType : DType.BF16).Keys.ToList();
        foreach (var name in names)
            if (!stored.TryGet(name, out _)) throw new InvalidInputException($"{stored.Description}: tensor '{name}' is missing");
        long total = names.Sum(name => stored.Get(name).ByteLength), done = 0;
        var results = new List<TensorVerification>();
        foreach (var name in names)
        {
            var meta = stored.Get(name);
            var recipe = PlanFor(meta.DType)[name].Recipe;
            if (!recipe.Output.Shape.Equals(meta.Shape))
                throw new InvalidInputException($"{stored.Description}: tensor '{name}' is stored with shape {meta.Shape} but the HF checkpoint maps to {recipe.Output.Shape}");
            results.Add(Compare(name, recipe, hfFor(meta.DType), stored, executor, blockBytes, bytes => onProgress?.Invoke(done += bytes, total)));
        }
        return results;
    }
    /// <summary>
    /// A replica against the stored copy that was checked against the HF checkpoint: same dtype, shape and bytes. Its
    /// expected digest is that copy's expected digest, so a replica of a wrong copy is reported too.
    /// </summary>
    private static TensorVerification CompareReplica(LegacyReplica replica, TorchLegacyExport legacy, List<TensorVerification> checkedCopies, int blockBytes)
    {
        var name = $"{replica.Primary} (copy at {replica.Where})";
        if (!legacy.TryGet(replica.Primary, out var primary))
            throw new InvalidInputException($"{replica.Where}: a copy of '{replica.Primary}', which no rank holds");
        var expected = checkedCopies.FirstOrDefault(t => t.Name == replica.Primary);
        var sources = expected?.HfSources ?? Array.Empty<string>();
        if (primary.DType != replica.Meta.DType || primary.Shape != replica.Meta.Shape)
            return new TensorVerification(name, sources, replica.Meta.DType, replica.Meta.Shape, replica.Meta.ByteLength,
                expected?.ExpectedSha256 ?? "", $"{replica.Meta.DType.SafetensorsName()} {replica.Meta.Shape}", 0);
        using var storedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long? firstDifference = null;
        long length = primary.ByteLength;
        var a = new byte[(int)Math.Min(blockBytes, Math.Max(1, length))];
        var b = new byte[a.Length];
        for (long offset = 0; offset < length; offset += a.Length)
        {
            int n = (int)Math.Min(a.Length, length - offset);
            legacy.Read(replica.Primary, offset, a.AsSpan(0, n));
            legacy.ReadReplica(replica, offset, b.AsSpan(0, n));
            storedHash.AppendData(b, 0, n);
            if (firstDifference is null)
            {
                int at = a.AsSpan(0, n).CommonPrefixLength(b.AsSpan(0, n));
                if (at < n) firstDifference = offset + at;
            }
        }
        var storedSha = Convert.ToHexStringLower(storedHash.GetHashAndReset());
        // A replica equal to a copy that itself differs from the HF mapping differs too.
        if (firstDifference is null && expected is { Matches: false }) firstDifference = expected.FirstDifference;
        return new TensorVerification(name, sources, primary.DType, primary.Shape, length, expected?.ExpectedSha256 ?? storedSha, storedSha, firstDifference);
    }

    private static TensorVerification Compare(string name, TensorRecipe recipe, ITensorSource hf, ITensorSource stored,
        RecipeExecutor executor, int blockBytes, Action<long> progress)
    {
        var output = recipe.Output;
        using var expectedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var storedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long? firstDifference = null;
        foreach (var (block, offset) in Blocks(recipe, blockBytes))
        {
            var expected = executor.ExecuteToMemory(block, hf);
            var actual = GC.AllocateUninitializedArray<byte>(expected.Length);
            stored.Read(name, offset, actual);
            expectedHash.AppendData(expected);
            storedHash.AppendData(actual);
            if (firstDifference is null)
            {
                var at = expected.AsSpan().CommonPrefixLength(actual);
                if (at < expected.Length) firstDifference = offset + at;
            }
            progress(expected.Length);
        }
        return new TensorVerification(name, recipe.Sources.ToList(), output.DType, output.Shape, output.ByteLength,
            Convert.ToHexStringLower(expectedHash.GetHashAndReset()), Convert.ToHexStringLower(storedHash.GetHashAndReset()), firstDifference);
    }

    private static bool CanTakeRows(TensorRecipe recipe)
    {
        try
        {
            recipe.NarrowRows(0, 1);
            return true;
        }
        catch (NotSupportedException)
        {
            return false; // pieces with windows of another rank: compare the tensor whole
        }
    }

    /// <summary>The recipe cut into row blocks of about <paramref name="blockBytes"/>, with each block's byte offset.</summary>
    private static IEnumerable<(TensorRecipe Block, long Offset)> Blocks(TensorRecipe recipe, int blockBytes)
    {
        var output = recipe.Output;
        if (output.Shape.Rank == 0 || output.ByteLength <= blockBytes || output.Shape[0] <= 1 || !CanTakeRows(recipe))
        {
            yield return (recipe, 0);
            yield break;
        }
        long rowBytes = output.ByteLength / output.Shape[0];
        long rows = Math.Max(1, blockBytes / Math.Max(1, rowBytes));
        for (long start = 0; start < output.Shape[0]; start += rows)
        {
            var count = Math.Min(rows, output.Shape[0] - start);
            yield return (recipe.NarrowRows(start, count), start * rowBytes);
        }
    }
}
