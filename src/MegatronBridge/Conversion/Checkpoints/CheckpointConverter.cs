using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchLegacy;
using MegatronBridge.Models;
using MegatronBridge.Tensors;
using MegatronBridge.Verification;

namespace MegatronBridge.Conversion.Checkpoints;

public enum MegatronFormat
{
    /// <summary>PyTorch DCP as megatron-core's dist_checkpointing writes it (<c>--ckpt-format torch_dist</c>).</summary>
    TorchDist,
    /// <summary>Legacy per-rank <c>mp_rank_XX/model_optim_rng.pt</c> files (<c>--ckpt-format torch</c>).</summary>
    Torch,
}

public sealed record ImportRequest(string HfModel, string MegatronPath)
{
    public MegatronFormat Format { get; init; } = MegatronFormat.TorchDist;
    public ParallelLayout Layout { get; init; } = ParallelLayout.Single;
    /// <summary>Megatron parameter dtype; null keeps the checkpoint's dtype.</summary>
    public DType? ParamDType { get; init; }
    public bool Force { get; init; }
    public IReadOnlyCollection<string> IgnoredHfTensors { get; init; } = Array.Empty<string>();
    /// <summary>Fixed DCP save_id (tests); a fresh uuid otherwise.</summary>
    public string? SaveId { get; init; }
    /// <summary>Import only the language model of a Qwen3.5/3.6 VL checkpoint, with the LM-only provider (<c>--language-only</c>).</summary>
    public bool LanguageOnly { get; init; }
}

public sealed record ImportResult(
    string MegatronPath,
    string IterationFolder,
    string Architecture,
    string Bridge,
    MegatronFormat Format,
    ParallelLayout Layout,
    int Tensors,
    long Bytes,
    TimeSpan Elapsed)
{
    /// <summary>Source tensors holding NaN or Inf (converted unchanged), with the file each lives in.</summary>
    public IReadOnlyList<NonFiniteTensor> NonFinite { get; init; } = Array.Empty<NonFiniteTensor>();
    /// <summary>Problems that did not fail the run (an old output replaced with --force that could not be deleted).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = Array.Empty<string>();
}

/// <summary>A source tensor with NaN / Inf values and the path of its safetensors file.</summary>
public sealed record NonFiniteTensor(string File, NonFiniteCount Count);

public sealed record ExportRequest(string HfModel, string MegatronPath, string HfPath)
{
    /// <summary>Shard size limit; null writes the original checkpoint's shard layout when --hf-model has one.</summary>
    public long? MaxShardBytes { get; init; }
    public bool Force { get; init; }
    /// <summary>
    /// Write the LM-only HF layout from a checkpoint imported with --language-only (--hf-model is the VL folder);
    /// null detects it (the checkpoint has no <c>language_model.</c> names while --hf-model is a VL model).
    /// </summary>
    public bool? LanguageOnly { get; init; }
}

public sealed record ExportResult(
    string HfPath,
    string SourceFolder,
    string Architecture,
    string Bridge,
    MegatronFormat Format,
    int Tensors,
    long Bytes,
    IReadOnlyList<string> LossyTensors,
    IReadOnlyList<string> SkippedKeys,
    TimeSpan Elapsed)
{
    /// <summary>True when the LM-only layout of a VL model was written.</summary>
    public bool LanguageOnly { get; init; }
    /// <summary>Problems that did not fail the run (an old output replaced with --force that could not be deleted).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = Array.Empty<string>();
}

/// <summary>The import and export jobs behind the CLI: dispatch, plan, stage, stream, commit.</summary>
public static class CheckpointConverter
{
    public static ImportResult Import(ImportRequest request, Action<long, long>? onProgress = null, RecipeExecutor? executor = null)
    {
        var clock = Stopwatch.StartNew();
        executor ??= new RecipeExecutor();
        using var checkpoint = SafetensorsCheckpoint.Open(request.HfModel);
        // NaN / Inf are counted in the bytes the conversion reads anyway, not in a second pass over the checkpoint.
        var nonFinite = new NonFiniteTracker(checkpoint);
        ITensorSource hf = nonFinite;
        BridgeRegistration bridge;
        ModelMapping mapping;
        if (request.LanguageOnly)
        {
            var config = HfConfig.LoadFromFolder(request.HfModel);
            var (lmBridge, provider) = BridgeRegistry.ForLanguageModelOnly(config);
            hf = new LanguageModelOnly.View(nonFinite);
            (bridge, mapping) = (lmBridge, BridgeMappings.Create(lmBridge, provider, hf.Tensors, request.HfModel));
        }
        else
        {
            (bridge, mapping) = BridgeMappings.ForHfFolder(request.HfModel, checkpoint);
        }
        var layout = request.Format == MegatronFormat.TorchDist ? ParallelLayout.Single : request.Layout;
        var plan = ImportPlan.Create(mapping, hf.Tensors, layout,
            new ImportOptions { ParamDType = request.ParamDType, IgnoredHfTensors = request.IgnoredHfTensors }, request.HfModel);
        var legacyFiles = request.Format == MegatronFormat.Torch ? TorchLegacyImport.PlanFiles(plan) : null;
        int count = legacyFiles?.Sum(f => f.Tensors.Count) ?? plan.Tensors.Count(t => !t.IsDuplicate);
        long bytes = legacyFiles?.Sum(f => f.Bytes) ?? plan.Tensors.Where(t => !t.IsDuplicate).Sum(t => t.Recipe.Output.ByteLength);
        var progress = new ConversionProgress(bytes, onProgress);

        using var staged = StagedOutput.Begin(request.MegatronPath, request.Force, OutputKind.MegatronCheckpoint, InputPaths(request.HfModel));
        switch (request.Format)
        {
            case MegatronFormat.TorchDist:
                TorchDistImport.Write(plan, hf, staged.Staging, executor, progress, request.SaveId);
                break;
            case MegatronFormat.Torch:
                TorchLegacyImport.Write(plan, hf, staged.Staging, executor, progress);
                break;
            default:
                throw new NotSupportedException($"format {request.Format} is not supported");
        }
        var warning = staged.Commit();
        var iterationFolder = Path.Combine(staged.Target, MegatronCheckpointFolder.IterationFolderName(0));
        return new ImportResult(staged.Target, iterationFolder, bridge.Architecture, bridge.BridgeName, request.Format, layout,
            count, bytes, clock.Elapsed)
        {
            NonFinite = nonFinite.Found().Select(c => new NonFiniteTensor(Path.Combine(request.HfModel, checkpoint.FileOf(c.Tensor)), c)).ToList(),
            Warnings = warning == null ? Array.Empty<string>() : new[] { warning },
        };
    }

    public static ExportResult Export(ExportRequest request, Action<long, long>? onProgress = null, RecipeExecutor? executor = null)
    {
        var clock = Stopwatch.StartNew();
        executor ??= new RecipeExecutor();
        var config = HfConfig.LoadFromFolder(request.HfModel);
        var iteration = MegatronCheckpointFolder.Resolve(request.MegatronPath);
        bool legacyFormat = LegacyRankFolders.IsLegacy(iteration.Folder);
        bool languageOnly = request.LanguageOnly ?? (LanguageModelOnly.IsAvailable(config) && !HasVisionLanguageNames(iteration.Folder, legacyFormat));
        var (bridge, provider) = languageOnly ? BridgeRegistry.ForLanguageModelOnly(config) : BridgeRegistry.CreateProvider(config);
        using var originalCheckpoint = OpenOriginal(request.HfModel);
        ITensorSource? original = languageOnly && originalCheckpoint != null ? new LanguageModelOnly.View(originalCheckpoint) : originalCheckpoint;
        var mapping = BridgeMappings.Create(bridge, provider, original?.Tensors ?? Array.Empty<TensorMeta>(), request.HfModel);
        // The LM-only folder gets its own names, so the original shard files cannot be reused.
        var shardLayout = languageOnly ? null : originalCheckpoint;
        var lmConfig = languageOnly ? LanguageModelOnly.Config(config) : null;

        var options = new ExportOptions { OriginalHfTensors = original?.Tensors.Select(t => t.Name).ToList() };
        if (legacyFormat)
        {
            using var legacy = TorchLegacyExport.Open(mapping, iteration.Folder);
            var legacyPlan = ExportPlan.Create(mapping, legacy.Tensors, legacy.Layout, options, iteration.Folder);
            return WriteHf(request, legacyPlan, legacy, shardLayout, lmConfig, executor, onProgress, clock, iteration.Folder, bridge, MegatronFormat.Torch, legacy.SkippedKeys);
        }
        if (!File.Exists(Path.Combine(iteration.Folder, TorchDistWriter.MetadataFileName)))
            throw new InvalidDataException($"{iteration.Folder}: not a Megatron checkpoint (no {TorchDistWriter.MetadataFileName} and no mp_rank_* folders)");
        using var checkpoint = TorchDistCheckpoint.Open(iteration.Folder);
        var (parameters, skipped) = TorchDistExport.Open(mapping, checkpoint);
        var plan = ExportPlan.Create(mapping, parameters.Tensors, ParallelLayout.Single, options, iteration.Folder);
        return WriteHf(request, plan, parameters, shardLayout, lmConfig, executor, onProgress, clock, iteration.Folder, bridge, MegatronFormat.TorchDist, skipped);
    }

    private static ExportResult WriteHf(ExportRequest request, ExportPlan plan, ITensorSource megatron, SafetensorsCheckpoint? original, JsonObject? languageOnlyConfig, RecipeExecutor executor,
        Action<long, long>? onProgress, Stopwatch clock, string sourceFolder, BridgeRegistration bridge, MegatronFormat format, IReadOnlyList<string> skipped)
    {
        long bytes = plan.Recipes.Sum(r => r.Output.ByteLength);
        var progress = new ConversionProgress(bytes, onProgress);
        using var staged = StagedOutput.Begin(request.HfPath, request.Force, OutputKind.HuggingFaceFolder,
            InputPaths(request.HfModel).Concat(InputPaths(request.MegatronPath)).Append(sourceFolder));
        HfFolderWriter.Write(plan.Recipes, megatron, staged.Staging, request.HfModel, original, request.MaxShardBytes, executor, progress);
        if (languageOnlyConfig != null)
        {
            // The VL folder's config and image/video processor files do not describe the LM-only model.
            File.WriteAllText(Path.Combine(staged.Staging, "config.json"), languageOnlyConfig.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            foreach (var name in new[] { "preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json" })
                File.Delete(Path.Combine(staged.Staging, name));
        }
        var warning = staged.Commit();
        return new ExportResult(staged.Target, sourceFolder, bridge.Architecture, bridge.BridgeName, format,
            plan.Recipes.Count, bytes, plan.LossyTensors, skipped, clock.Elapsed)
        {
            LanguageOnly = languageOnlyConfig != null,
            Warnings = warning == null ? Array.Empty<string>() : new[] { warning },
        };
    }

    /// <summary>Whether a Megatron checkpoint holds a VL model's names (<c>language_model.</c>), as a --language-only import does not.</summary>
    public static bool HasVisionLanguageNames(string iterationFolder, bool legacyFormat)
    {
        const string prefix = "language_model.";
        if (legacyFormat)
        {
            using var file = LegacyCheckpointFile.Open(LegacyRankFolders.List(iterationFolder)[0].File, modelKey: null);
            return file.ModelKeys.Any(k => file.ChunkTensors(k).Any(t => t.Name.StartsWith(prefix, StringComparison.Ordinal)));
        }
        if (!File.Exists(Path.Combine(iterationFolder, TorchDistWriter.MetadataFileName))) return true;
        using var checkpoint = TorchDistCheckpoint.Open(iterationFolder);
        return checkpoint.Tensors.Any(t => t.Name.StartsWith(prefix, StringComparison.Ordinal));
    }

    /// <summary>
    /// An input folder and the files directly in it: a symlinked shard (a Hugging Face cache snapshot points into its
    /// blobs folder) makes the place it points to an input too.
    /// </summary>
    private static IEnumerable<string> InputPaths(string folder)
    {
        yield return folder;
        if (!Directory.Exists(folder)) yield break;
        foreach (var entry in Directory.EnumerateFiles(folder)) yield return entry;
    }

    /// <summary>The original HF checkpoint, when --hf-model holds weights (for tensor order, layouts and shard files).</summary>
    private static SafetensorsCheckpoint? OpenOriginal(string folder) =>
        File.Exists(Path.Combine(folder, SafetensorsCheckpoint.SingleFileName)) || File.Exists(Path.Combine(folder, SafetensorsCheckpoint.IndexFileName))
            ? SafetensorsCheckpoint.Open(folder)
            : null;
}
