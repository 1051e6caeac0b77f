using MegatronBridge.Tensors;

namespace MegatronBridge.Reference;

/// <summary>
/// Reads the reference forward's weights from Megatron-Core in-memory parameters at TP=1 (global names such as
/// <c>language_model.decoder.layers.3.self_attention.linear_qkv.weight</c>), interpreting every fused tensor the way
/// Megatron's modules do, independently of the conversion code (so a mapping bug shows up as a logit difference):
/// <list type="bullet">
/// <item><c>linear_qkv</c>: group-major, per query group [Q heads of the group ; output-gate heads (Qwen3.5) ; K ; V];</item>
/// <item>GDN <c>in_proj</c>: [Q ; K ; V ; Z ; beta ; alpha], the first three being the conv1d input channels;</item>
/// <item><c>linear_fc1</c> (dense, shared and grouped experts): [gate ; up];</item>
/// <item>GDN <c>out_norm</c>: zero-centred (the multiplier is 1 + w);</item>
/// <item>vision <c>linear_qkv</c>: per head [Q_h ; K_h ; V_h], with bias.</item>
/// </list>
/// Each fused weight is applied as one matmul whose output is split (<see cref="ProjectionSet"/>), as Megatron does.
/// </summary>
public sealed class MegatronWeightLoader
{
    private readonly ITensorSource _source;
    private readonly ReferenceConfig _config;
    private readonly string _prefix;

    private MegatronWeightLoader(ITensorSource source, ReferenceConfig config)
    {
        _source = source;
        _config = config;
        _prefix = source.Contains("language_model.embedding.word_embeddings.weight") ? "language_model."
            : source.Contains("embedding.word_embeddings.weight") ? ""
            : throw new InvalidDataException($"{source.Description}: neither language_model.embedding.word_embeddings.weight nor embedding.word_embeddings.weight found (not Megatron parameters?)");
    }

    /// <summary>
    /// Reads the weights. With <paramref name="streamLayers"/> each decoder layer is read when the forward reaches it
    /// (the source must stay open while the model is used).
    /// </summary>
    public static ModelWeights Load(ITensorSource source, ReferenceConfig config, bool streamLayers = false) =>
        new MegatronWeightLoader(source, config).Load(streamLayers);

    /// <summary>True when <paramref name="source"/> holds Megatron parameter names rather than Hugging Face ones.</summary>
    public static bool LooksLikeMegatron(ITensorSource source) =>
        source.Contains("language_model.embedding.word_embeddings.weight") || source.Contains("embedding.word_embeddings.weight");

    private ModelWeights Load(bool streamLayers)
    {
        int h = _config.Hidden;
        var embedding = Mat(_prefix + "embedding.word_embeddings.weight", _config.Vocab, h);
        string output = _prefix + "output_layer.weight";
        Matrix lmHead;
        if (_source.Contains(output))
            lmHead = Mat(output, _config.Vocab, h);
        else if (_config.TieWordEmbeddings)
            lmHead = embedding; // share_embeddings_and_output_weights: Megatron has no output layer
        else
            throw new InvalidDataException($"{_source.Description}: no {output} and tie_word_embeddings is false ({_config.Where})");

        IReadOnlyList<DecoderLayerWeights> layers = streamLayers
            ? new LazyList<DecoderLayerWeights>(_config.Layers, LoadLayer)
            : Enumerable.Range(0, _config.Layers).Select(LoadLayer).ToArray();
        var vision = _config.Vision is not null && _source.Contains("vision_model.patch_embed.proj.weight") ? LoadVision(_config.Vision) : null;
        return new ModelWeights(embedding, layers, Vec(_prefix + "decoder.final_layernorm.weight", h), lmHead, vision);
    }

    private DecoderLayerWeights LoadLayer(int i)
    {
        string p = $"{_prefix}decoder.layers.{i}.";
        string a = p + "self_attention.";
        AttentionWeights? attention = null;
        GatedDeltaNetWeights? gdn = null;
        string inputNorm;
        if (_config.LinearAttentionLayers[i])
        {
            gdn = LoadGatedDeltaNet(a);
            inputNorm = a + "in_proj.layer_norm_weight";
        }
        else
        {
            attention = LoadAttention(a);
            inputNorm = a + "linear_qkv.layer_norm_weight";
        }
        // Separate-norm module layouts (no TE fused norm) name it input_layernorm.
        if (!_source.Contains(inputNorm) && _source.Contains(p + "input_layernorm.weight")) inputNorm = p + "input_layernorm.weight";

        MlpWeights? mlp = null;
        MoeWeights? moe = null;
        string postNorm;
        if (_source.Contains(p + "mlp.router.weight"))
        {
            moe = LoadMoe(p + "mlp.");
            postNorm = p + "pre_mlp_layernorm.weight";
        }
        else
        {
            mlp = LoadGatedMlp(p + "mlp.linear_fc1.weight", p + "mlp.linear_fc2.weight", null);
            postNorm = p + "mlp.linear_fc1.layer_norm_weight";
            if (!_source.Contains(postNorm) && _source.Contains(p + "pre_mlp_layernorm.weight")) postNorm = p + "pre_mlp_layernorm.weight";
        }
        int h = _config.Hidden;
        return new DecoderLayerWeights(Vec(inputNorm, h), Vec(postNorm, h), attention, gdn, mlp, moe);
    }

    /// <summary>linear_qkv rows, group-major: for each query group g, its query heads, then (gated) their gate heads, then K_g, V_g.</summary>
    private AttentionWeights LoadAttention(string a)
    {
        int h = _config.Hidden, d = _config.HeadDim, heads = _config.Heads, groups = _config.KvHeads;
        bool gated = _config.AttentionOutputGate;
        int rows = ((gated ? 2 : 1) * heads + 2 * groups) * d;
        var blocks = AttentionQkvBlocks(heads, groups, d, gated);
        string name = a + "linear_qkv.weight";
        float[]? bias = _source.Contains(a + "linear_qkv.bias") ? Vec(a + "linear_qkv.bias", rows) : null;
        var widths = gated ? new[] { heads * d, groups * d, groups * d, heads * d } : new[] { heads * d, groups * d, groups * d };
        var qkv = new ProjectionSet(widths, new[] { new FusedProjection(Mat(name, rows, h), bias, blocks) });
        return new AttentionWeights(qkv, Mat(a + "linear_proj.weight", h, heads * d),
            Vec(a + "q_layernorm.weight", d), Vec(a + "k_layernorm.weight", d));
    }

    /// <summary>The row blocks of a TP=1 linear_qkv: per query group g, its query heads, (gated) their gate heads, K_g, V_g.</summary>
    internal static IReadOnlyList<RowBlock> AttentionQkvBlocks(int heads, int groups, int d, bool gated)
    {
        int perGroup = heads / groups;
        var blocks = new List<RowBlock>();
        for (int g = 0; g < groups; g++)
        {
            blocks.Add(new RowBlock(AttentionParts.Query, g * perGroup * d, perGroup * d));
            if (gated) blocks.Add(new RowBlock(AttentionParts.Gate, g * perGroup * d, perGroup * d));
            blocks.Add(new RowBlock(AttentionParts.Key, g * d, d));
            blocks.Add(new RowBlock(AttentionParts.Value, g * d, d));
        }
        return blocks;
    }

    /// <summary>in_proj rows [Q (nk*dk) ; K (nk*dk) ; V (nv*dv) ; Z (nv*dv) ; beta (nv) ; alpha (nv)]; conv1d channels [Q ; K ; V].</summary>
    private GatedDeltaNetWeights LoadGatedDeltaNet(string a)
    {
        int h = _config.Hidden, nk = _config.LinearKeyHeads, nv = _config.LinearValueHeads;
        int keyDim = nk * _config.LinearKeyHeadDim, valueDim = nv * _config.LinearValueHeadDim;
        int convDim = 2 * keyDim + valueDim;
        var blocks = new[]
        {
            new RowBlock(GdnParts.Qkv, 0, keyDim),               // query
            new RowBlock(GdnParts.Qkv, keyDim, keyDim),          // key
            new RowBlock(GdnParts.Qkv, 2 * keyDim, valueDim),    // value
            new RowBlock(GdnParts.Z, 0, valueDim),
            new RowBlock(GdnParts.B, 0, nv),
            new RowBlock(GdnParts.A, 0, nv),
        };
        var inProj = new ProjectionSet(new[] { convDim, valueDim, nv, nv },
            new[] { new FusedProjection(Mat(a + "in_proj.weight", convDim + valueDim + 2 * nv, h), null, blocks) });

        // Megatron's out_norm is zero-centred (layernorm_zero_centered_gamma): it scales by 1 + w.
        var outNorm = Vec(a + "out_norm.weight", _config.LinearValueHeadDim);
        for (int i = 0; i < outNorm.Length; i++) outNorm[i] += 1f;

        return new GatedDeltaNetWeights(
            inProj, Vec(a + "conv1d.weight", convDim * _config.ConvKernel), Vec(a + "dt_bias", nv), Vec(a + "A_log", nv),
            outNorm, Mat(a + "out_proj.weight", h, valueDim));
    }

    /// <summary>A SwiGLU MLP from linear_fc1 [gate ; up] and linear_fc2; the intermediate size comes from fc1 when not given.</summary>
    private MlpWeights LoadGatedMlp(string fc1, string fc2, int? intermediate)
    {
        int h = _config.Hidden;
        var meta = _source.Get(fc1);
        int inter = intermediate ?? (meta.Shape.Rank == 2 && meta.Shape[0] % 2 == 0 && meta.Shape[0] > 0
            ? (int)(meta.Shape[0] / 2)
            : throw new InvalidDataException($"{_source.Description}: tensor '{fc1}' has shape {meta.Shape}, expected [2 x intermediate, {h}]"));
        return new MlpWeights(ProjectionSet.Concatenated(Mat(fc1, 2 * inter, h), null, inter, inter), Mat(fc2, h, inter));
    }

    private MoeWeights LoadMoe(string p)
    {
        int h = _config.Hidden;
        string routerName = p + "router.weight";
        var routerMeta = _source.Get(routerName);
        if (routerMeta.Shape.Rank != 2 || routerMeta.Shape[0] <= 0)
            throw new InvalidDataException($"{_source.Description}: tensor '{routerName}' has shape {routerMeta.Shape}, expected [experts, {h}]");
        int experts = (int)routerMeta.Shape[0];
        if (_config.NumExpertsPerToken <= 0 || _config.NumExpertsPerToken > experts)
            throw new InvalidDataException($"{_config.Where}: num_experts_per_tok {_config.NumExpertsPerToken} does not fit {experts} experts of {routerName}");
        var router = Mat(routerName, experts, h);

        var list = new MlpWeights[experts];
        for (int e = 0; e < experts; e++)
        {
            // TEGroupedMLP names the expert by a weight suffix; SequentialMLP by a submodule index.
            string grouped = $"{p}experts.linear_fc1.weight{e}", sequential = $"{p}experts.local_experts.{e}.linear_fc1.weight";
            list[e] = _source.Contains(grouped) ? LoadGatedMlp(grouped, $"{p}experts.linear_fc2.weight{e}", _config.MoeIntermediate)
                : _source.Contains(sequential) ? LoadGatedMlp(sequential, $"{p}experts.local_experts.{e}.linear_fc2.weight", _config.MoeIntermediate)
                : throw new InvalidDataException($"{_source.Description}: expert {e} of {routerName} has neither '{grouped}' nor '{sequential}'");
        }

        MlpWeights? shared = null;
        Matrix? sharedGate = null;
        if (_source.Contains(p + "shared_experts.linear_fc1.weight"))
        {
            shared = LoadGatedMlp(p + "shared_experts.linear_fc1.weight", p + "shared_experts.linear_fc2.weight", null);
            if (_source.Contains(p + "shared_experts.gate_weight")) sharedGate = Mat(p + "shared_experts.gate_weight", 1, h);
        }
        return new MoeWeights(router, list, shared, sharedGate);
    }

    private VisionWeights LoadVision(VisionDims v)
    {
        const string p = "vision_model.";
        int hv = v.Hidden, hd = v.HeadDim;
        var blocks = new VisionBlockWeights[v.Depth];
        for (int j = 0; j < v.Depth; j++)
        {
            string b = $"{p}decoder.layers.{j}.";
            var qkvBlocks = VisionQkvBlocks(v.Heads, hd);
            var qkv = new ProjectionSet(new[] { hv, hv, hv }, new[]
            {
                new FusedProjection(Mat(b + "self_attention.linear_qkv.weight", 3 * hv, hv), Vec(b + "self_attention.linear_qkv.bias", 3 * hv), qkvBlocks),
            });
            blocks[j] = new VisionBlockWeights(
                Vec(b + "self_attention.linear_qkv.layer_norm_weight", hv), Vec(b + "self_attention.linear_qkv.layer_norm_bias", hv),
                qkv, Mat(b + "self_attention.linear_proj.weight", hv, hv), Vec(b + "self_attention.linear_proj.bias", hv),
                Vec(b + "mlp.linear_fc1.layer_norm_weight", hv), Vec(b + "mlp.linear_fc1.layer_norm_bias", hv),
                Mat(b + "mlp.linear_fc1.weight", v.Intermediate, hv), Vec(b + "mlp.linear_fc1.bias", v.Intermediate),
                Mat(b + "mlp.linear_fc2.weight", hv, v.Intermediate), Vec(b + "mlp.linear_fc2.bias", hv));
        }
        var deepstack = new PatchMergerWeights[v.DeepstackIndexes.Count];
        for (int k = 0; k < deepstack.Length; k++) deepstack[k] = LoadMerger($"{p}decoder.deepstack_merger_list.{k}.", v, postShuffleNorm: true);
        return new VisionWeights(
            Mat(p + "patch_embed.proj.weight", hv, v.PatchValues), Vec(p + "patch_embed.proj.bias", hv),
            Mat(p + "pos_embed.weight", v.NumPositionEmbeddings, hv),
            blocks, LoadMerger(p + "merger.", v, postShuffleNorm: false), deepstack);
    }

    /// <summary>Vision linear_qkv rows (weight and bias alike): per head h, [Q_h ; K_h ; V_h] of head_dim rows each.</summary>
    internal static IReadOnlyList<RowBlock> VisionQkvBlocks(int heads, int headDim)
    {
        var blocks = new List<RowBlock>();
        for (int head = 0; head < heads; head++)
        {
            blocks.Add(new RowBlock(0, head * headDim, headDim));
            blocks.Add(new RowBlock(1, head * headDim, headDim));
            blocks.Add(new RowBlock(2, head * headDim, headDim));
        }
        return blocks;
    }

    private PatchMergerWeights LoadMerger(string p, VisionDims v, bool postShuffleNorm)
    {
        int merged = v.Hidden * v.MergeUnit;
        int normSize = postShuffleNorm ? merged : v.Hidden;
        return new PatchMergerWeights(
            Vec(p + "patch_norm.weight", normSize), Vec(p + "patch_norm.bias", normSize),
            Mat(p + "linear_fc1.weight", merged, merged), Vec(p + "linear_fc1.bias", merged),
            Mat(p + "linear_fc2.weight", v.OutHidden, merged), Vec(p + "linear_fc2.bias", v.OutHidden), postShuffleNorm);
    }

    private Matrix Mat(string name, int rows, int cols)
    {
        var meta = Need(name);
        if (meta.Shape.Rank < 2 || meta.Shape[0] != rows || meta.NumElements != (long)rows * cols)
            throw new InvalidDataException($"{_source.Description}: tensor '{name}' has shape {meta.Shape}, expected {rows} x {cols} values");
        return new Matrix(WeightReader.ReadFloats(_source, name), rows, cols, name);
    }

    private float[] Vec(string name, int count)
    {
        var meta = Need(name);
        if (meta.NumElements != count)
            throw new InvalidDataException($"{_source.Description}: tensor '{name}' has shape {meta.Shape}, expected {count} values");
        return WeightReader.ReadFloats(_source, name);
    }

    private TensorMeta Need(string name) =>
        _source.TryGet(name, out var meta) ? meta : throw new InvalidDataException($"{_source.Description}: Megatron parameter '{name}' is missing");
}
