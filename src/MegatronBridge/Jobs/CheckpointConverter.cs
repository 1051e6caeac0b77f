using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.IO;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

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
    /// <summary>Leave the MTP block out even when the checkpoint has it (<c>--no-mtp</c>).</summary>
    public bool NoMtp { get; init; }
    /// <summary>The MTP inner-layer name to write (<see cref="MtpLayerNames"/>); null for what current megatron-core reads in the format.</summary>
    public string? MtpLayerName { get; init; }
    /// <summary>Legacy format: write routed experts as SequentialMLP modules (<c>--no-grouped-gemm</c>); torch_dist keys are the same either way.</summary>
    public bool SequentialExperts { get; init; }
    /// <summary>
    /// Pad the embedding and output layer with zero rows to Megatron-LM's padded vocabulary size for this value and
    /// <see cref="Layout"/>'s TP (<c>--make-vocab-size-divisible-by</c>); null writes the HF vocab_size rows.
    /// </summary>
    public int? MakeVocabSizeDivisibleBy { get; init; }
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
    /// <summary>The provider the checkpoint was written for (<c>mtp_num_layers</c> None when MTP was left out).</summary>
    public Providers.GptModelProvider? Provider { get; init; }
    /// <summary>The MTP block config.json declares but the import left out, and why; null when converted as declared.</summary>
    public MtpOmission? MtpLeftOut { get; init; }
    /// <summary>The MTP inner-layer name written; null without MTP.</summary>
    public string? MtpLayerName { get; init; }
    /// <summary>Whether routed experts were written as SequentialMLP modules (legacy format only).</summary>
    public bool SequentialExperts { get; init; }
    /// <summary>The rows of the written embedding / output layer (the HF vocab_size unless padded).</summary>
    public int VocabRows { get; init; }
    /// <summary>FP8 scale tensors holding scales that are not positive and finite (dequantised as they are).</summary>
    public IReadOnlyList<OutOfRangeScale> OutOfRangeScales { get; init; } = Array.Empty<OutOfRangeScale>();
    /// <summary>Problems that did not fail the run (an old output replaced with --force that could not be deleted).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = Array.Empty<string>();
}

/// <summary>An FP8 scale tensor with <see cref="Count"/> scales that are NaN, infinite, zero or negative, and its file.</summary>
public sealed record OutOfRangeScale(string File, string Tensor, long Count);

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
    /// <summary>
    /// The dtype of the written tensors (<c>--torch-dtype</c>); null writes the dtype the HF config declares, whatever
    /// the Megatron checkpoint stores (a float32 import or training run exports back to a bfloat16 checkpoint).
    /// </summary>
    public DType? TorchDType { get; init; }
    /// <summary><c>--quantize fp8</c>: write blockwise FP8 weights as Qwen's "-FP8" releases do.</summary>
    public ExportQuantization Quantize { get; init; }
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
    /// <summary>The MTP block config.json declares but the Megatron checkpoint lacks (not written); null otherwise.</summary>
    public MtpOmission? MtpLeftOut { get; init; }
    /// <summary>The dtype the floating-point tensors were written in; null when each kept the Megatron checkpoint's.</summary>
    public DType? WrittenDType { get; init; }
    /// <summary>Problems that did not fail the run (an old output replaced with --force that could not be deleted).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = Array.Empty<string>();
}

/// <summary>The import and export jobs behind the CLI: dispatch, plan, stage, stream, commit.</summary>
public static class CheckpointConverter
{
    public static ImportResult Import(ImportRequest request, Action<long, long>? onProgress = null) => Import(request, onProgress, new RecipeExecutor());

    internal static ImportResult Import(ImportRequest request, Action<long, long>? onProgress, RecipeExecutor executor)
    {
        var clock = Stopwatch.StartNew();
        using var checkpoint = SafetensorsCheckpoint.Open(request.HfModel);
        // NaN / Inf are counted in the bytes the conversion reads anyway, not in a second pass over the checkpoint.
        // FP8 weights are read dequantised (to --torch-dtype, else bf16); the NaN / Inf count sees the dequantised values.
        var weights = HfWeights.Dequantized(checkpoint, request.HfModel, request.ParamDType);
        var nonFinite = new NonFiniteTracker(weights);
        ITensorSource hf = nonFinite;
        var config = HfConfig.LoadFromFolder(request.HfModel);
        var (bridge, provider) = BridgeRegistry.CreateProvider(config, request.LanguageOnly);
        if (request.LanguageOnly) hf = new LanguageModelOnlyView(nonFinite, config);
        if (request.MtpLayerName is { } requestedName && !MtpLayerNames.IsValid(requestedName))
            throw new InvalidInputException($"MTP layer name '{requestedName}' is neither {MtpLayerNames.TransformerLayer} nor {MtpLayerNames.ModelLayer}");
        var ignored = request.IgnoredHfTensors.ToList();
        MtpOmission? mtpLeftOut = null;
        if (provider.MtpLayers > 0)
        {
            // Without the MTP tensors (save_pretrained drops them, so HF-side fine-tunes lose them) or on request, the
            // model is converted as one built without MTP.
            var present = MtpSelection.HfTensors(hf.Tensors);
            if (request.NoMtp || present.Count == 0)
            {
                mtpLeftOut = present.Count > 0
                    ? new MtpOmission(provider.MtpLayers, "--no-mtp", present)
                    : new MtpOmission(provider.MtpLayers, "the checkpoint has no mtp.* tensors", MtpSelection.MappedHfTensors(bridge, provider, hf.Tensors, request.HfModel));
                provider = MtpSelection.WithoutMtp(provider);
                ignored.AddRange(present);
            }
        }
        var mapping = BridgeMappings.Create(bridge, provider, hf.Tensors, request.HfModel);
        var unpadded = mapping.Provider;
        if (request.MakeVocabSizeDivisibleBy is { } divisibleBy
            && VocabPadding.PaddedSize(unpadded.VocabSize, divisibleBy, request.Layout.Tp) is var padded && padded > unpadded.VocabSize)
        {
            hf = new VocabPadding.PaddedSource(hf, VocabPadding.HfVocabTensors(mapping), padded);
            mapping = BridgeMappings.Create(bridge, VocabPadding.Padded(unpadded, padded), hf.Tensors, request.HfModel);
        }
        var layout = request.Format == MegatronFormat.TorchDist ? ParallelLayout.Single : request.Layout;
        var plan = ImportPlan.Create(mapping, hf.Tensors, layout,
            new ImportOptions { ParamDType = request.ParamDType, IgnoredHfTensors = ignored }, request.HfModel);
        string mtpLayerName = request.MtpLayerName ?? MtpLayerNames.DefaultFor(request.Format == MegatronFormat.Torch);
        var legacyNames = new LegacyKeyNames { MtpLayerName = mtpLayerName, SequentialExperts = request.SequentialExperts };
        var legacyFiles = request.Format == MegatronFormat.Torch ? TorchLegacyImport.PlanFiles(plan, legacyNames) : null;
        int count = legacyFiles?.Sum(f => f.Tensors.Count) ?? plan.Tensors.Count(t => !t.IsDuplicate);
        long bytes = legacyFiles?.Sum(f => f.Bytes) ?? plan.Tensors.Where(t => !t.IsDuplicate).Sum(t => t.Recipe.Output.ByteLength);
        var progress = new ConversionProgress(bytes, onProgress);

        using var staged = StagedOutput.Begin(request.MegatronPath, request.Force, OutputKind.MegatronCheckpoint, InputPaths(request.HfModel));
        switch (request.Format)
        {
            case MegatronFormat.TorchDist:
                TorchDistImport.Write(plan, hf, staged.Staging, executor, progress, request.SaveId, mtpLayerName, staged.Target);
                break;
            case MegatronFormat.Torch:
                TorchLegacyImport.Write(plan, hf, staged.Staging, executor, progress, legacyNames);
                break;
            default:
                throw new NotSupportedException($"format {request.Format} is not supported");
        }
        // The vision config goes with the provider only when the vision tower was converted.
        var visionConfig = mapping.Provider.HasVision ? HfConfig.LoadFromFolder(request.HfModel).Object("vision_config") : null;
        // Megatron-Bridge's provider pads by itself from the HF vocab_size when should_pad_vocab is set.
        var runProvider = request.MakeVocabSizeDivisibleBy is { } n
            ? unpadded with { MakeVocabSizeDivisibleBy = n, ShouldPadVocab = true }
            : unpadded;
        RunConfigFile.Write(Path.Combine(staged.Staging, MegatronCheckpointFolder.IterationFolderName(0)), runProvider, request.Layout, visionConfig, request.Format);
        var warning = staged.Commit();
        var iterationFolder = Path.Combine(staged.Target, MegatronCheckpointFolder.IterationFolderName(0));
        return new ImportResult(staged.Target, iterationFolder, bridge.Architecture, bridge.BridgeName, request.Format, layout,
            count, bytes, clock.Elapsed)
        {
            NonFinite = nonFinite.Found().Select(c => new NonFiniteTensor(Path.Combine(request.HfModel, checkpoint.FileOf(c.Tensor)), c)).ToList(),
            Provider = provider,
            MtpLeftOut = mtpLeftOut,
            MtpLayerName = provider.MtpLayers > 0 ? mtpLayerName : null,
            SequentialExperts = request.Format == MegatronFormat.Torch && request.SequentialExperts && provider.NumExperts > 0,
            VocabRows = mapping.Provider.VocabSize,
            OutOfRangeScales = weights is BlockScaledFp8Source fp8
                ? fp8.OutOfRangeScales().Select(s => new OutOfRangeScale(Path.Combine(request.HfModel, checkpoint.FileOf(s.Scale)), s.Scale, s.Count)).ToList()
                : Array.Empty<OutOfRangeScale>(),
            Warnings = warning == null ? Array.Empty<string>() : new[] { warning },
        };
    }

    public static ExportResult Export(ExportRequest request, Action<long, long>? onProgress = null) => Export(request, onProgress, new RecipeExecutor());

    internal static ExportResult Export(ExportRequest request, Action<long, long>? onProgress, RecipeExecutor executor)
    {
        var clock = Stopwatch.StartNew();
        var config = HfConfig.LoadFromFolder(request.HfModel);
        // The model the checkpoint holds: language-only, without MTP, or with a vocabulary padded by Megatron-LM
        // (planned at the stored size, written back at the HF size).
        using var opened = OpenedMegatronCheckpoint.Open(request.MegatronPath, config, request.HfModel, request.LanguageOnly);
        bool languageOnly = opened.LanguageOnly;
        using var originalCheckpoint = OpenOriginal(request.HfModel);
        // An FP8 --hf-model names the same weights as its bf16 original once its scales are hidden.
        ITensorSource? originalWeights = originalCheckpoint == null ? null : HfWeights.Dequantized(originalCheckpoint, request.HfModel);
        ITensorSource? original = originalWeights == null ? null : opened.LanguageModelView(originalWeights);
        IReadOnlyList<TensorMeta> originalTensors = original?.Tensors ?? Array.Empty<TensorMeta>();
        // FP8 releases store routed experts one 2-D weight each, also where the bf16 release packs them.
        if (request.Quantize == ExportQuantization.Fp8) originalTensors = ExpertUnpacking.ToPerExpert(originalTensors, opened.Provider.HiddenSize);
        // Trained without MTP (or MTP turned off): export what the checkpoint holds. Megatron-Bridge's
        // AutoBridge.save_hf_weights does the same: with the built model's mtp_num_layers unset it stops expecting the
        // source's mtp.* keys (_model_omits_mtp, _mtp_source_key_prefixes), and the HF config is copied unchanged.
        var mtpLeftOut = opened.MtpLeftOut(originalTensors);
        var mapping = opened.Map(originalTensors);
        // The LM-only folder gets its own names, so the original shard files cannot be reused.
        var shardLayout = languageOnly ? null : originalCheckpoint;
        var lmConfig = languageOnly ? BridgeRegistry.LanguageModelOnly(config).Counterpart.Config(config) : null;

        var writtenDType = request.TorchDType ?? mapping.ParamDType;
        var options = new ExportOptions { OriginalHfTensors = original == null ? null : originalTensors.Select(t => t.Name).ToList(), OutputDType = writtenDType,
            HfVocabRows = opened.VocabPadded ? opened.HfVocabRows : null };
        var folder = opened.Checkpoint.Folder;
        var megatron = opened.Parameters();
        var plan = ExportPlan.Create(mapping, megatron.Source.Tensors, megatron.Layout, options, folder);
        return WriteHf(request, plan, megatron.Source, shardLayout, lmConfig, writtenDType, executor, onProgress, clock, folder, opened.Bridge, opened.Checkpoint.Format,
            megatron.SkippedKeys, Fp8Plan(request, config, plan, originalWeights, languageOnly, opened.Bridge)) with { MtpLeftOut = mtpLeftOut };
    }

    /// <summary>The FP8 layout of <c>--quantize fp8</c>: an FP8 --hf-model's own choices (not for the renamed LM-only layout), else the bridge's releases'.</summary>
    private static Fp8Export? Fp8Plan(ExportRequest request, HfConfig config, ExportPlan plan, ITensorSource? originalWeights, bool languageOnly, BridgeRegistration bridge)
    {
        if (request.Quantize != ExportQuantization.Fp8) return null;
        var quantizedByDefault = bridge.Fp8QuantizedByDefault
            ?? throw new InvalidInputException($"{request.HfModel}: {bridge.BridgeName} has no FP8 release layout to follow: --quantize fp8 is not available for it");
        var fp8Original = languageOnly ? null : originalWeights as BlockScaledFp8Source;
        var fp8Config = fp8Original == null ? null : Fp8QuantizationConfig.From(config);
        return Fp8Export.Create(plan.Recipes.Select(r => r.Output).ToList(), fp8Original, fp8Config, quantizedByDefault);
    }

    private static ExportResult WriteHf(ExportRequest request, ExportPlan plan, ITensorSource megatron, SafetensorsCheckpoint? original, JsonObject? languageOnlyConfig, DType? writtenDType, RecipeExecutor executor,
        Action<long, long>? onProgress, Stopwatch clock, string sourceFolder, BridgeRegistration bridge, MegatronFormat format, IReadOnlyList<string> skipped,
        Fp8Export? fp8)
    {
        long bytes = plan.Recipes.Sum(r => r.Output.ByteLength);
        var progress = new ConversionProgress(bytes, onProgress);
        using var staged = StagedOutput.Begin(request.HfPath, request.Force, OutputKind.HuggingFaceFolder,
            InputPaths(request.HfModel).Concat(InputPaths(request.MegatronPath)).Append(sourceFolder));
        HfFolderWriter.Write(plan.Recipes, megatron, staged.Staging, request.HfModel, original, request.MaxShardBytes, executor, progress, fp8);
        if (languageOnlyConfig != null)
        {
            // The VL folder's config and image/video processor files do not describe the LM-only model.
            File.WriteAllText(Path.Combine(staged.Staging, "config.json"), languageOnlyConfig.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            foreach (var name in new[] { "preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json" })
                File.Delete(Path.Combine(staged.Staging, name));
        }
        // Without --torch-dtype the declared dtype was written: the copied config.json already says so.
        if (request.TorchDType is { } written) ExportedConfigDtype.Restate(Path.Combine(staged.Staging, "config.json"), written);
        // The quantization_config says how the written weights are stored: FP8's with --quantize fp8, none otherwise.
        Fp8Export.WriteConfig(Path.Combine(staged.Staging, "config.json"), fp8);
        var warning = staged.Commit();
        return new ExportResult(staged.Target, sourceFolder, bridge.Architecture, bridge.BridgeName, format,
            plan.Recipes.Count, bytes, plan.LossyTensors, skipped, clock.Elapsed)
        {
            LanguageOnly = languageOnlyConfig != null,
            WrittenDType = writtenDType,
            Warnings = warning == null ? Array.Empty<string>() : new[] { warning },
        };
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
        SafetensorsCheckpoint.HasWeights(folder)
            ? SafetensorsCheckpoint.Open(folder)
            : null;
}
