using MegatronBridge.Config;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Tensors;

namespace MegatronBridge.Reference;

/// <summary>
/// CPU float32 forward of a Qwen3.5 / Qwen3.6 (hybrid Gated DeltaNet) or Qwen3-VL decoder, with the vision tower
/// when images are given. Weights come in through <see cref="ModelWeights"/>, so any checkpoint layout can feed it.
/// </summary>
public sealed class ReferenceModel : IDisposable
{
    private readonly IDisposable? _ownedSource;

    /// <param name="ownedSource">Disposed with the model (the checkpoint that streamed layers are read from).</param>
    public ReferenceModel(ReferenceConfig config, ModelWeights weights, IDisposable? ownedSource = null)
    {
        Config = config;
        Weights = weights;
        _ownedSource = ownedSource;
        if (weights.Layers.Count != config.Layers)
            throw new InvalidDataException($"{config.Where}: {weights.Layers.Count} layers of weights for num_hidden_layers {config.Layers}");
    }

    public ReferenceConfig Config { get; }
    public ModelWeights Weights { get; }

    /// <summary>
    /// Loads config.json and the safetensors weights of a Hugging Face folder. With <paramref name="streamLayers"/>
    /// only embeddings, final norm, LM head and vision tower stay in memory; each decoder layer is read when the
    /// forward reaches it (dispose the model to close the checkpoint).
    /// </summary>
    public static ReferenceModel LoadHf(string folder, bool streamLayers = false)
    {
        var config = ReferenceConfig.FromHf(HfConfig.LoadFromFolder(folder));
        var checkpoint = SafetensorsCheckpoint.Open(folder);
        try
        {
            var weights = HfWeightLoader.Load(checkpoint, config, streamLayers);
            if (!streamLayers)
            {
                checkpoint.Dispose();
                return new ReferenceModel(config, weights);
            }
            return new ReferenceModel(config, weights, checkpoint);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    public void Dispose() => _ownedSource?.Dispose();

    /// <summary>
    /// A model over any tensor source with Hugging Face names (e.g. a Megatron checkpoint presented in the HF
    /// layout). With <paramref name="streamLayers"/> the source must stay open while the model is used; pass it as
    /// <paramref name="owner"/> to have the model dispose it.
    /// </summary>
    public static ReferenceModel FromSource(HfConfig hfConfig, ITensorSource source, bool streamLayers = false, IDisposable? owner = null)
    {
        var config = ReferenceConfig.FromHf(hfConfig);
        return new ReferenceModel(config, HfWeightLoader.Load(source, config, streamLayers), owner);
    }

    /// <summary>
    /// A model over Megatron in-memory parameters at TP=1 (global names, fused layouts; see
    /// <see cref="MegatronWeightLoader"/>), with the shape from <paramref name="hfConfig"/>.
    /// </summary>
    public static ReferenceModel FromMegatron(HfConfig hfConfig, ITensorSource parameters, bool streamLayers = false, IDisposable? owner = null)
    {
        var config = ReferenceConfig.FromHf(hfConfig);
        return new ReferenceModel(config, MegatronWeightLoader.Load(parameters, config, streamLayers), owner);
    }

    /// <summary>
    /// Loads a Megatron checkpoint (torch_dist) with config.json from the HF folder <paramref name="hfModel"/>.
    /// </summary>
    public static ReferenceModel LoadMegatron(string megatronPath, string hfModel, bool streamLayers = false)
    {
        var hfConfig = HfConfig.LoadFromFolder(hfModel);
        var (parameters, owner) = MegatronCheckpointWeights.Open(megatronPath, hfModel);
        try
        {
            var model = FromMegatron(hfConfig, parameters, streamLayers, streamLayers ? owner : null);
            if (!streamLayers) owner.Dispose();
            return model;
        }
        catch
        {
            owner.Dispose();
            throw;
        }
    }

    /// <summary>Runs the vision tower alone (the features that replace the image tokens).</summary>
    public VisionOutput EncodeImages(ImageInput image)
    {
        if (Weights.Vision is null || Config.Vision is null)
            // Images given to a language-only model (or checkpoint) are the user's input error, not a bug.
            throw new InvalidDataException($"{Config.Where}: the model has no vision encoder, so it cannot take images (a language-only checkpoint?)");
        return VisionEncoder.Forward(image.PixelValues, image.Grids, Weights.Vision, Config.Vision);
    }

    /// <summary>Logits [tokens, vocab] for one sequence.</summary>
    public float[] Forward(IReadOnlyList<int> inputIds, ImageInput? image = null) => Forward(inputIds, image is null ? null : (image, EncodeImages(image)));

    /// <summary>Logits with the image already encoded (greedy decoding encodes once).</summary>
    public float[] Forward(IReadOnlyList<int> inputIds, (ImageInput Input, VisionOutput Encoded)? image) => Run(inputIds, image, null);

    /// <summary>
    /// Forward over a prompt that also fills a cache, so that <see cref="DecodeStep"/> can continue it one token at
    /// a time. Returns the prompt's logits [tokens, vocab].
    /// </summary>
    public (float[] Logits, DecodeCache Cache) Prefill(IReadOnlyList<int> inputIds, (ImageInput Input, VisionOutput Encoded)? image)
    {
        var cache = new DecodeCache(Config);
        var logits = Run(inputIds, image, cache);
        return (logits, cache);
    }

    /// <summary>Logits [vocab] of one more token after the cached sequence (a text token: positions count on).</summary>
    public float[] DecodeStep(DecodeCache cache, int token)
    {
        int h = Config.Hidden;
        var x = new float[h];
        Embed(new[] { token }, x);
        int p = cache.NextPosition++;
        var rope = RopeTable.ForText(new[] { new[] { p }, new[] { p }, new[] { p } }, Config.RopeTheta, Config.RotaryFrequencies, Config.MropeSection, Config.MropeInterleaved);
        for (int layer = 0; layer < Config.Layers; layer++) DecoderLayer(x, 1, Weights.Layers[layer], rope, cache.Layers[layer]);
        cache.Tokens++;
        Norms.RmsNormInPlace(x, Weights.FinalNorm, Config.RmsEps, Config.NormStyle);
        return Linear.Apply(x, 1, Weights.LmHead);
    }

    private void Embed(IReadOnlyList<int> inputIds, float[] x)
    {
        int h = Config.Hidden;
        for (int t = 0; t < inputIds.Count; t++)
        {
            int id = inputIds[t];
            if (id < 0 || id >= Config.Vocab) throw new ArgumentOutOfRangeException(nameof(inputIds), $"token id {id} at position {t} is outside the vocabulary of {Config.Vocab}");
            Weights.Embedding.Row(id).CopyTo(x.AsSpan(t * h, h));
        }
    }

    private float[] Run(IReadOnlyList<int> inputIds, (ImageInput Input, VisionOutput Encoded)? image, DecodeCache? cache)
    {
        int n = inputIds.Count;
        if (n == 0) throw new ArgumentException("input ids are empty");
        int h = Config.Hidden;
        var x = new float[n * h];
        Embed(inputIds, x);

        var imagePositions = new List<int>();
        IReadOnlyList<ImageGrid> grids = Array.Empty<ImageGrid>();
        if (image is { } img)
        {
            int? imageToken = Config.ImageTokenId ?? throw new InvalidDataException($"{Config.Where}: image_token_id is missing, so image tokens cannot be found");
            // The first image tokens take the features; later ones (generated) keep their embedding, as in generation.
            for (int t = 0; t < n && imagePositions.Count < img.Encoded.Tokens; t++) if (inputIds[t] == imageToken) imagePositions.Add(t);
            if (imagePositions.Count != img.Encoded.Tokens)
                throw new InvalidDataException($"input ids hold {imagePositions.Count} image tokens (id {imageToken}) but the image gives {img.Encoded.Tokens} features");
            for (int j = 0; j < imagePositions.Count; j++)
                img.Encoded.ImageEmbeds.AsSpan(j * h, h).CopyTo(x.AsSpan(imagePositions[j] * h, h));
            grids = img.Input.Grids;
        }

        var positions = MropePositions.Compute(inputIds, Config.ImageTokenId, grids, Config.Vision?.SpatialMergeSize ?? 1);
        var rope = RopeTable.ForText(positions, Config.RopeTheta, Config.RotaryFrequencies, Config.MropeSection, Config.MropeInterleaved);

        for (int layer = 0; layer < Config.Layers; layer++)
        {
            DecoderLayer(x, n, Weights.Layers[layer], rope, cache?.Layers[layer]);
            // Qwen3-VL deepstack: features of vision layer i are added at the image positions after decoder layer i.
            if (image is { } im && layer < im.Encoded.Deepstack.Count)
            {
                var ds = im.Encoded.Deepstack[layer];
                for (int j = 0; j < imagePositions.Count; j++)
                {
                    var dst = x.AsSpan(imagePositions[j] * h, h);
                    var src = ds.AsSpan(j * h, h);
                    for (int i = 0; i < h; i++) dst[i] += src[i];
                }
            }
        }
        if (cache is not null)
        {
            cache.Tokens = n;
            cache.NextPosition = positions.Max(row => row.Max()) + 1;
        }

        Norms.RmsNormInPlace(x, Weights.FinalNorm, Config.RmsEps, Config.NormStyle);
        return Linear.Apply(x, n, Weights.LmHead);
    }

    private void DecoderLayer(float[] x, int n, DecoderLayerWeights w, RopeTable rope, LayerCache? cache)
    {
        var normed = (float[])x.Clone();
        Norms.RmsNormInPlace(normed, w.InputNorm, Config.RmsEps, Config.NormStyle);
        var mixed = w.LinearAttention is not null
            ? GatedDeltaNet.Forward(normed, n, w.LinearAttention, Config, cache as LinearAttentionCache)
            : Attention.Forward(normed, n, w.Attention ?? throw new InvalidDataException("decoder layer has neither attention nor linear attention weights"), Config, rope, cache as AttentionCache);
        for (int i = 0; i < x.Length; i++) x[i] += mixed[i];

        normed = (float[])x.Clone();
        Norms.RmsNormInPlace(normed, w.PostAttentionNorm, Config.RmsEps, Config.NormStyle);
        var mlp = w.Moe is not null
            ? MoeBlock.Forward(normed, n, w.Moe, Config.NumExpertsPerToken)
            : Mlp.Forward(normed, n, w.Mlp ?? throw new InvalidDataException("decoder layer has neither MLP nor MoE weights"));
        for (int i = 0; i < x.Length; i++) x[i] += mlp[i];
    }
}
