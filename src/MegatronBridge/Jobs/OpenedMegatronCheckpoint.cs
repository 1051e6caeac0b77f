using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Models;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>
/// The stored parameters of an opened Megatron checkpoint under the mapping's names: torch_dist keys as global
/// tensors (layout TP=1), or legacy rank files as gathered shards in the layout they were saved with.
/// </summary>
/// <param name="SkippedKeys">Stored keys that are not model weights (optimizer, rng, args, ...), reported and not read.</param>
/// <param name="Legacy">The legacy reader itself (its replicas, for verify); null for torch_dist.</param>
internal sealed record MegatronParameters(ITensorSource Source, ParallelLayout Layout, IReadOnlyList<string> SkippedKeys, TorchLegacyExport? Legacy);

/// <summary>
/// A Megatron checkpoint opened against the HF config.json it was converted from: the one way export, verify, the
/// reference forward (compare, generate) open a checkpoint. It locates the checkpoint (<see cref="MegatronCheckpoint"/>:
/// iteration, format, stored names read once), decides the model the checkpoint holds, builds the mapping from the HF
/// tensor names on request and opens the stored parameters once the mapping exists. Dispose it to close what it opened.
/// </summary>
/// <remarks>
/// The provider is adjusted in one order, the same for every command:
/// <list type="number">
/// <item>language-only (requested, else detected: a VL config whose checkpoint has no <c>language_model.</c> names)
/// picks the bridge and its provider, so it comes first: what follows changes fields of that provider;</item>
/// <item>MTP absent (config.json declares MTP, the checkpoint stores none) turns <c>mtp_num_layers</c> off: the
/// checkpoint holds what a model built without MTP holds (Megatron-Bridge's AutoBridge.save_hf_weights stops
/// expecting the mtp.* keys for such a model). The HF tensors left out are those the mapping of the provider still
/// with MTP reads (<see cref="MtpLeftOut"/>);</item>
/// <item>a padded vocabulary (stored embedding rows beyond the HF vocab_size, Megatron-LM's padding) sets the
/// provider's vocab_size to the stored rows last: it only changes the Megatron shapes of the embedding and output
/// layer, which neither earlier step reads.</item>
/// </list>
/// MTP and padding change separate provider fields and the mapping's names do not depend on the vocabulary rows, so
/// this order gives what each command computed before in its own order: export padded first, verify after building
/// the mapping without MTP.
/// </remarks>
internal sealed class OpenedMegatronCheckpoint : IDisposable
{
    private readonly string _hfModel;
    private readonly HfConfig _config;
    private ModelMapping? _mapping;
    private MegatronParameters? _parameters;

    private OpenedMegatronCheckpoint(MegatronCheckpoint checkpoint, HfConfig config, string hfModel, bool languageOnly, BridgeRegistration bridge,
        GptModelProvider declared, GptModelProvider provider)
    {
        Checkpoint = checkpoint;
        _hfModel = hfModel;
        _config = config;
        LanguageOnly = languageOnly;
        Bridge = bridge;
        DeclaredProvider = declared;
        Provider = provider;
    }

    /// <summary>Where the checkpoint is and what its stored names tell (folder, format, MTP, stored rows).</summary>
    public MegatronCheckpoint Checkpoint { get; }

    /// <summary>Whether the checkpoint holds only the language model of the VL model config.json describes.</summary>
    public bool LanguageOnly { get; }

    public BridgeRegistration Bridge { get; }

    /// <summary>The provider config.json declares (the LM-only one for a language-only checkpoint), before the checkpoint's adjustments.</summary>
    public GptModelProvider DeclaredProvider { get; }

    /// <summary>The provider of the model the checkpoint holds: without MTP when it stores none, at the stored vocabulary rows.</summary>
    public GptModelProvider Provider { get; }

    /// <summary>Whether config.json declares MTP but the checkpoint stores no MTP tensor (the model is read as one built without MTP).</summary>
    public bool MtpAbsent => DeclaredProvider.MtpLayers > 0 && Provider.MtpLayers == 0;

    /// <summary>The HF vocab_size (rows the HF embedding and lm_head hold).</summary>
    public int HfVocabRows => DeclaredProvider.VocabSize;

    /// <summary>Whether the stored vocabulary is padded beyond the HF vocab_size (then <see cref="Provider"/> has the stored rows).</summary>
    public bool VocabPadded => Provider.VocabSize > HfVocabRows;

    /// <summary>The mapping, once <see cref="Map"/> built it.</summary>
    public ModelMapping Mapping => _mapping ?? throw new InvalidOperationException("the mapping is built by Map first");

    /// <param name="languageOnly">
    /// <c>--language-only</c>: true or false forces it; null detects it (a VL config whose checkpoint has no
    /// <c>language_model.</c> names).
    /// </param>
    public static OpenedMegatronCheckpoint Open(string megatronPath, HfConfig config, string hfModel, bool? languageOnly = null)
    {
        var checkpoint = MegatronCheckpoint.Locate(megatronPath);
        try
        {
            bool lmOnly = checkpoint.IsLanguageOnly(config, languageOnly);
            var (bridge, declared) = BridgeRegistry.CreateProvider(config, lmOnly);
            var provider = declared;
            if (provider.MtpLayers > 0 && !checkpoint.HasMtp()) provider = MtpSelection.WithoutMtp(provider);
            if (checkpoint.StoredVocabRows() is { } storedRows && storedRows > provider.VocabSize) provider = VocabPadding.Padded(provider, storedRows);
            return new OpenedMegatronCheckpoint(checkpoint, config, hfModel, lmOnly, bridge, declared, provider);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>The HF checkpoint as this model reads it: its language model alone for a language-only checkpoint.</summary>
    public ITensorSource LanguageModelView(ITensorSource hf) => LanguageOnly ? new LanguageModelOnlyView(hf, _config) : hf;

    /// <summary>
    /// Builds the mapping of <see cref="Provider"/> for an HF checkpoint whose tensors are <paramref name="hfTensors"/>
    /// (they decide the expert layouts; none for a config-only mapping).
    /// </summary>
    public ModelMapping Map(IReadOnlyList<TensorMeta> hfTensors)
    {
        if (_mapping != null) throw new InvalidOperationException("the mapping is already built");
        return _mapping = BridgeMappings.Create(Bridge, Provider, hfTensors, _hfModel);
    }

    /// <summary>
    /// The MTP block config.json declares but the checkpoint lacks, with the HF tensors the declared model's mapping
    /// reads for it among <paramref name="hfTensors"/>; null when the checkpoint has MTP or none is declared.
    /// </summary>
    public MtpOmission? MtpLeftOut(IReadOnlyList<TensorMeta> hfTensors) =>
        MtpAbsent
            ? new MtpOmission(DeclaredProvider.MtpLayers, "the Megatron checkpoint has no MTP tensors",
                MtpSelection.MappedHfTensors(Bridge, DeclaredProvider, hfTensors, _hfModel))
            : null;

    /// <summary>
    /// The HF checkpoint with its vocabulary tensors seen zero-padded to the stored rows, as an import with padding
    /// writes them (what verify compares); <paramref name="hf"/> itself when the vocabulary is not padded.
    /// </summary>
    public ITensorSource PaddedHfVocab(ITensorSource hf) =>
        VocabPadded ? new VocabPadding.PaddedSource(hf, VocabPadding.HfVocabTensors(Mapping), Provider.VocabSize) : hf;

    /// <summary>The stored parameters under the mapping's names, opened on the first call (after <see cref="Map"/>).</summary>
    public MegatronParameters Parameters()
    {
        if (_parameters != null) return _parameters;
        if (Checkpoint.IsLegacy)
        {
            var legacy = TorchLegacyExport.Open(Mapping, Checkpoint.Folder);
            return _parameters = new MegatronParameters(legacy, legacy.Layout, legacy.SkippedKeys, legacy);
        }
        // Missing keys and shapes the config does not imply are refused here, each named.
        var (stored, skipped) = TorchDistExport.Open(Mapping, Checkpoint.TorchDist!);
        return _parameters = new MegatronParameters(stored, ParallelLayout.Single, skipped, null);
    }

    /// <summary>The stored parameters with a padded vocabulary cut back to the HF vocab_size (what the reference forward reads).</summary>
    public ITensorSource ParametersAtHfVocab()
    {
        var stored = Parameters().Source;
        return VocabPadded ? new VocabRowsView(stored, HfVocabRows) : stored;
    }

    public void Dispose()
    {
        _parameters?.Legacy?.Dispose();
        Checkpoint.Dispose();
    }
}
