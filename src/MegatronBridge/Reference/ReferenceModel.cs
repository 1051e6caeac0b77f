using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Reference;

/// <summary>
/// CPU float32 forward of a Qwen3.5 / Qwen3.6 (hybrid Gated DeltaNet) or Qwen3-VL decoder, with the vision tower
/// when images are given. Weights come in through <see cref="ModelWeights"/>, so any checkpoint layout can feed it;
/// they stay in the checkpoint and are read a block at a time as the forward reaches them, so memory does not grow
/// with the model.
/// </summary>
internal sealed class ReferenceModel : IDisposable
{
    private readonly IDisposable? _ownedSource;

    /// <param name="ownedSource">Disposed with the model (the checkpoint that streamed layers are read from).</param>
    public ReferenceModel(ReferenceConfig config, ModelWeights weights, IDisposable? ownedSource = null)
    {
        Config = config;
        Weights = weights;
        _ownedSource = ownedSource;
        if (weights.Layers.Count != config.Layers)
            throw new InvalidInputException($"{config.Where}: {weights.Layers.Count} layers of weights for num_hidden_layers {config.Layers}");
    }

    public ReferenceConfig Config { get; }
    public ModelWeights Weights { get; }

    /// <summary>
    /// Opens config.json and the safetensors weights of a Hugging Face folder. The weights stay on disk and are read
    /// when the forward needs them (dispose the model to close the checkpoint).
    /// </summary>
    public static ReferenceModel LoadHf(string folder)
    {
        var config = ReferenceConfig.FromHf(HfConfig.LoadFromFolder(folder));
        var checkpoint = SafetensorsCheckpoint.Open(folder);
        try
        {
            // FP8 releases are read dequantised to bf16, the values an import of them holds.
            return new ReferenceModel(config, HfWeightLoader.Load(HfWeights.Dequantized(checkpoint, folder), config), checkpoint);
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
    /// layout). The source must stay open while the model is used; pass it as <paramref name="owner"/> to have the
    /// model dispose it.
    /// </summary>
    public static ReferenceModel FromSource(HfConfig hfConfig, ITensorSource source, IDisposable? owner = null)
    {
        var config = ReferenceConfig.FromHf(hfConfig);
        return new ReferenceModel(config, HfWeightLoader.Load(source, config), owner);
    }

    /// <summary>
    /// A model over Megatron parameters at TP=1 (global names, fused layouts; see <see cref="MegatronWeightLoader"/>),
    /// with the shape from <paramref name="hfConfig"/>. The source must stay open while the model is used.
    /// </summary>
    public static ReferenceModel FromMegatron(HfConfig hfConfig, ITensorSource parameters, IDisposable? owner = null)
    {
        var config = ReferenceConfig.FromHf(hfConfig);
        return new ReferenceModel(config, MegatronWeightLoader.Load(parameters, config), owner);
    }

    /// <summary>Runs the vision tower alone (the features that replace the image tokens).</summary>
    public VisionOutput EncodeImages(ImageInput image)
    {
        if (Weights.Vision is null || Config.Vision is null)
            // Images given to a language-only model (or checkpoint) are the user's input error, not a bug.
            throw new InvalidInputException($"{Config.Where}: the model has no vision encoder, so it cannot take images (a language-only checkpoint?)");
        return VisionEncoder.Forward(image.PixelValues, image.Grids, Weights.Vision, Config.Vision);
    }

    /// <summary>
    /// The forward pass one sub-block at a time: with an image, the vision tower's steps (patch embedding, each block,
    /// the mergers), then the embedding, each decoder layer's token mixer (attention or GDN) and MLP (or experts), and
    /// last the logits [tokens, vocab]. Only the layer being run is read from disk; run two models' steps side by side
    /// to find where they part.
    /// </summary>
    public IEnumerable<ForwardStep> Steps(IReadOnlyList<int> inputIds, ImageInput? image = null)
    {
        (ImageInput, VisionOutput)? encoded = null;
        if (image is not null)
        {
            if (Weights.Vision is null || Config.Vision is null)
                throw new InvalidInputException($"{Config.Where}: the model has no vision encoder, so it cannot take images");
            var result = new VisionEncoder.Result();
            foreach (var step in VisionEncoder.Steps(image.PixelValues, image.Grids, Weights.Vision, Config.Vision, result)) yield return step;
            encoded = (image, result.Output!);
        }
        foreach (var step in Run(inputIds, encoded, null)) yield return step;
    }

    /// <summary>Logits [tokens, vocab] for one sequence.</summary>
    public float[] Forward(IReadOnlyList<int> inputIds, ImageInput? image = null) => Forward(inputIds, image is null ? null : (image, EncodeImages(image)));

    /// <summary>Logits with the image already encoded (greedy decoding encodes once).</summary>
    public float[] Forward(IReadOnlyList<int> inputIds, (ImageInput Input, VisionOutput Encoded)? image) => Run(inputIds, image, null).Last().Values;

    /// <summary>
    /// Forward over a prompt that also fills a cache, so that <see cref="DecodeStep"/> can continue it one token at
    /// a time. Returns the prompt's logits [tokens, vocab].
    /// </summary>
    public (float[] Logits, DecodeCache Cache) Prefill(IReadOnlyList<int> inputIds, (ImageInput Input, VisionOutput Encoded)? image)
    {
        var cache = new DecodeCache(Config);
        var logits = Run(inputIds, image, cache).Last().Values;
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
        for (int layer = 0; layer < Config.Layers; layer++)
        {
            var w = Weights.Layers[layer];
            Mixer(x, 1, w, rope, cache.Layers[layer]);
            FeedForward(x, 1, w);
        }
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
            if (id < 0 || id >= Config.Vocab) throw new InvalidInputException($"token id {id} at position {t} is outside the vocabulary of {Config.Vocab}");
            Weights.Embedding.ReadRows(id, 1, x.AsSpan(t * h, h));
        }
    }

    /// <summary>The decoder's steps; the last one holds the logits.</summary>
    private IEnumerable<ForwardStep> Run(IReadOnlyList<int> inputIds, (ImageInput Input, VisionOutput Encoded)? image, DecodeCache? cache)
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
            int? imageToken = Config.ImageTokenId ?? throw new InvalidInputException($"{Config.Where}: image_token_id is missing, so image tokens cannot be found");
            // The first image tokens take the features; later ones (generated) keep their embedding, as in generation.
            for (int t = 0; t < n && imagePositions.Count < img.Encoded.Tokens; t++) if (inputIds[t] == imageToken) imagePositions.Add(t);
            if (imagePositions.Count != img.Encoded.Tokens)
                throw new InvalidInputException($"input ids hold {imagePositions.Count} image tokens (id {imageToken}) but the image gives {img.Encoded.Tokens} features");
            for (int j = 0; j < imagePositions.Count; j++)
                img.Encoded.ImageEmbeds.AsSpan(j * h, h).CopyTo(x.AsSpan(imagePositions[j] * h, h));
            grids = img.Input.Grids;
        }

        yield return new ForwardStep(ForwardStages.Embedding, 0, x);

        var positions = MropePositions.Compute(inputIds, Config.ImageTokenId, grids, Config.Vision?.SpatialMergeSize ?? 1);
        var rope = RopeTable.ForText(positions, Config.RopeTheta, Config.RotaryFrequencies, Config.MropeSection, Config.MropeInterleaved);

        for (int layer = 0; layer < Config.Layers; layer++)
        {
            // Only this layer's norms are held; its matrices are read as the matmuls reach them.
            var w = Weights.Layers[layer];
            Mixer(x, n, w, rope, cache?.Layers[layer]);
            yield return new ForwardStep(w.LinearAttention is not null ? ForwardStages.GdnMixer : ForwardStages.Attention, layer, x);
            FeedForward(x, n, w);
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
            yield return new ForwardStep(w.Moe is not null ? ForwardStages.Experts : ForwardStages.Mlp, layer, x);
        }
        if (cache is not null)
        {
            cache.Tokens = n;
            cache.NextPosition = positions.Max(row => row.Max()) + 1;
        }

        Norms.RmsNormInPlace(x, Weights.FinalNorm, Config.RmsEps, Config.NormStyle);
        yield return new ForwardStep(ForwardStages.Logits, 0, Linear.Apply(x, n, Weights.LmHead));
    }

    /// <summary>x += token mixer (attention or Gated DeltaNet) of the normed x.</summary>
    private void Mixer(float[] x, int n, DecoderLayerWeights w, RopeTable rope, LayerCache? cache)
    {
        var normed = (float[])x.Clone();
        Norms.RmsNormInPlace(normed, w.InputNorm, Config.RmsEps, Config.NormStyle);
        var mixed = w.LinearAttention is not null
            ? GatedDeltaNet.Forward(normed, n, w.LinearAttention, Config, cache as LinearAttentionCache)
            : Attention.Forward(normed, n, w.Attention ?? throw new InvalidInputException("decoder layer has neither attention nor linear attention weights"), Config, rope, cache as AttentionCache);
        for (int i = 0; i < x.Length; i++) x[i] += mixed[i];
    }

    /// <summary>x += MLP (or experts) of the normed x.</summary>
    private void FeedForward(float[] x, int n, DecoderLayerWeights w)
    {
        var normed = (float[])x.Clone();
        Norms.RmsNormInPlace(normed, w.PostAttentionNorm, Config.RmsEps, Config.NormStyle);
        var mlp = w.Moe is not null
            ? MoeBlock.Forward(normed, n, w.Moe, Config.NumExpertsPerToken)
            : Mlp.Forward(normed, n, w.Mlp ?? throw new InvalidInputException("decoder layer has neither MLP nor MoE weights"));
        for (int i = 0; i < x.Length; i++) x[i] += mlp[i];
    }
}
