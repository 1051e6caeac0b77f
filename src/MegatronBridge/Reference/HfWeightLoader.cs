using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Reference;

/// <summary>
/// Describes the reference forward's weights in a Hugging Face checkpoint (any <see cref="ITensorSource"/> with HF
/// names): matrices stay stored and are read when used, vectors are read as float32 when their layer is reached. Knows the three expert layouts: per-expert tensors, packed
/// <c>gate_up_proj [E, 2I, H]</c> + <c>down_proj [E, H, I]</c>, and the hub-transposed <c>[E, H, 2I]</c> + <c>[E, I, H]</c>.
/// </summary>
internal sealed class HfWeightLoader
{
    private readonly ITensorSource _source;
    private readonly ReferenceConfig _config;
    private readonly string _prefix;

    private HfWeightLoader(ITensorSource source, ReferenceConfig config)
    {
        _source = source;
        _config = config;
        _prefix = source.Contains("model.language_model.embed_tokens.weight") ? "model.language_model."
            : source.Contains("model.embed_tokens.weight") ? "model."
            : throw new InvalidInputException($"{source.Description}: neither model.language_model.embed_tokens.weight nor model.embed_tokens.weight found");
    }

    /// <summary>
    /// Describes the weights without reading the matrices: every matrix stays in <paramref name="source"/> (which must
    /// stay open while the model is used) and is read a block at a time when a matmul needs it; norms and biases are
    /// read when their layer is reached. Every layer is checked once here (names, shapes, dtypes), then dropped.
    /// </summary>
    public static ModelWeights Load(ITensorSource source, ReferenceConfig config) =>
        new HfWeightLoader(source, config).Load();

    private ModelWeights Load()
    {
        int h = _config.Hidden;
        var embedding = Mat(_prefix + "embed_tokens.weight", _config.Vocab, h);
        Matrix lmHead;
        if (_config.TieWordEmbeddings || !_source.Contains("lm_head.weight"))
        {
            if (!_config.TieWordEmbeddings)
                throw new InvalidInputException($"{_source.Description}: no lm_head.weight and tie_word_embeddings is false ({_config.Where})");
            lmHead = embedding;
        }
        else
        {
            lmHead = Mat("lm_head.weight", _config.Vocab, h);
        }

        for (int i = 0; i < _config.Layers; i++) LoadLayer(i);
        var layers = new LazyList<DecoderLayerWeights>(_config.Layers, LoadLayer);
        var vision = _config.Vision is not null && _source.Contains("model.visual.patch_embed.proj.weight") ? LoadVision(_config.Vision) : null;
        return new ModelWeights(embedding, layers, Vec(_prefix + "norm.weight", h), lmHead, vision);
    }

    private DecoderLayerWeights LoadLayer(int i)
    {
        string p = $"{_prefix}layers.{i}.";
        int h = _config.Hidden;
        AttentionWeights? attention = null;
        GatedDeltaNetWeights? gdn = null;
        if (_config.LinearAttentionLayers[i])
        {
            string g = p + "linear_attn.";
            int keyDim = _config.LinearKeyHeads * _config.LinearKeyHeadDim;
            int valueDim = _config.LinearValueHeads * _config.LinearValueHeadDim;
            int convDim = 2 * keyDim + valueDim;
            var inProj = ProjectionSet.Separate(
                Mat(g + "in_proj_qkv.weight", convDim, h), Mat(g + "in_proj_z.weight", valueDim, h),
                Mat(g + "in_proj_b.weight", _config.LinearValueHeads, h), Mat(g + "in_proj_a.weight", _config.LinearValueHeads, h));
            gdn = new GatedDeltaNetWeights(
                inProj, Vec(g + "conv1d.weight", convDim * _config.ConvKernel), Vec(g + "dt_bias", _config.LinearValueHeads),
                Vec(g + "A_log", _config.LinearValueHeads), Vec(g + "norm.weight", _config.LinearValueHeadDim),
                Mat(g + "out_proj.weight", h, valueDim));
        }
        else
        {
            string a = p + "self_attn.";
            int d = _config.HeadDim;
            int qRows = _config.Heads * d * (_config.AttentionOutputGate ? 2 : 1);
            attention = new AttentionWeights(
                QkvProjections(Mat(a + "q_proj.weight", qRows, h), Mat(a + "k_proj.weight", _config.KvHeads * d, h), Mat(a + "v_proj.weight", _config.KvHeads * d, h)),
                Mat(a + "o_proj.weight", h, _config.Heads * d), Vec(a + "q_norm.weight", d), Vec(a + "k_norm.weight", d));
        }

        MlpWeights? mlp = null;
        MoeWeights? moe = null;
        if (_source.Contains(p + "mlp.gate.weight")) moe = LoadMoe(p + "mlp.");
        else mlp = LoadMlp(p + "mlp.", null);
        return new DecoderLayerWeights(Vec(p + "input_layernorm.weight", h), Vec(p + "post_attention_layernorm.weight", h), attention, gdn, mlp, moe);
    }

    /// <summary>
    /// q_proj with the output gate holds [query_h ; gate_h] per head (d rows each); k_proj and v_proj are plain.
    /// </summary>
    private ProjectionSet QkvProjections(Matrix q, Matrix k, Matrix v)
    {
        int d = _config.HeadDim, heads = _config.Heads, kv = _config.KvHeads * d;
        if (!_config.AttentionOutputGate) return ProjectionSet.Separate(q, k, v);
        var qBlocks = GatedQProjBlocks(heads, d);
        return new ProjectionSet(new[] { heads * d, kv, kv, heads * d }, new[]
        {
            new FusedProjection(q, null, qBlocks),
            new FusedProjection(k, null, new[] { new RowBlock(AttentionParts.Key, 0, kv) }),
            new FusedProjection(v, null, new[] { new RowBlock(AttentionParts.Value, 0, kv) }),
        });
    }

    /// <summary>Rows of a gated q_proj: per head h, query_h then gate_h, d rows each.</summary>
    internal static IReadOnlyList<RowBlock> GatedQProjBlocks(int heads, int d)
    {
        var blocks = new List<RowBlock>();
        for (int head = 0; head < heads; head++)
        {
            blocks.Add(new RowBlock(AttentionParts.Query, head * d, d));
            blocks.Add(new RowBlock(AttentionParts.Gate, head * d, d));
        }
        return blocks;
    }

    private MlpWeights LoadMlp(string p, int? intermediate)
    {
        var gateMeta = _source.Get(p + "gate_proj.weight");
        int inter = intermediate ?? (gateMeta.Shape.Rank == 2 ? (int)gateMeta.Shape[0] : throw new InvalidInputException($"{_source.Description}: {p}gate_proj.weight is not a matrix"));
        int h = _config.Hidden;
        return new MlpWeights(Mat(p + "gate_proj.weight", inter, h), Mat(p + "up_proj.weight", inter, h), Mat(p + "down_proj.weight", h, inter));
    }

    private MoeWeights LoadMoe(string p)
    {
        int h = _config.Hidden;
        var routerMeta = _source.Get(p + "gate.weight");
        if (routerMeta.Shape.Rank != 2) throw new InvalidInputException($"{_source.Description}: {p}gate.weight must be [experts, hidden]");
        int experts = (int)routerMeta.Shape[0];
        if (_config.NumExpertsPerToken <= 0 || _config.NumExpertsPerToken > experts)
            throw new InvalidInputException($"{_config.Where}: num_experts_per_tok {_config.NumExpertsPerToken} does not fit {experts} experts of {p}gate.weight");
        var router = Mat(p + "gate.weight", experts, h);
        int inter = _config.MoeIntermediate;

        var list = new MlpWeights[experts];
        if (_source.Contains(p + "experts.gate_up_proj"))
        {
            string gu = p + "experts.gate_up_proj", dn = p + "experts.down_proj";
            var guShape = _source.Get(gu).Shape;
            var dnShape = _source.Get(dn).Shape;
            if (guShape.Rank != 3 || guShape[0] != experts || dnShape.Rank != 3 || dnShape[0] != experts)
                throw new InvalidInputException($"{_source.Description}: {gu} / {dn} must be [experts={experts}, ., .]");
            bool standard = guShape[1] == 2 * inter && guShape[2] == h && dnShape[1] == h && dnShape[2] == inter;
            bool transposed = guShape[1] == h && guShape[2] == 2 * inter && dnShape[1] == inter && dnShape[2] == h;
            if (!standard && !transposed)
                throw new InvalidInputException($"{_source.Description}: {gu} {guShape} / {dn} {dnShape} match neither [E, 2I, H]/[E, H, I] nor [E, H, 2I]/[E, I, H] with I={inter}, H={h}");
            // When H == 2I both readings fit the shapes; the family says which one its hub checkpoints use (Qwen3-VL: transposed).
            if (standard && transposed) standard = !_config.Traits.AmbiguousPackedExpertsTransposed;
            long per = 2L * inter * h;
            for (int e = 0; e < experts; e++)
            {
                Matrix gateUp = standard ? TensorRows.Open(_source, gu, e * per, 2 * inter, h, $"{gu}[{e}]") : TransposedTensorRows.Open(_source, gu, e * per, h, 2 * inter, $"{gu}[{e}]");
                Matrix down = standard ? TensorRows.Open(_source, dn, e * (long)h * inter, h, inter, $"{dn}[{e}]") : TransposedTensorRows.Open(_source, dn, e * (long)h * inter, inter, h, $"{dn}[{e}]");
                list[e] = new MlpWeights(ProjectionSet.Concatenated(gateUp, null, inter, inter), down);
            }
        }
        else
        {
            for (int e = 0; e < experts; e++) list[e] = LoadMlp($"{p}experts.{e}.", inter);
        }

        MlpWeights? shared = null;
        Matrix? sharedGate = null;
        if (_source.Contains(p + "shared_expert.gate_proj.weight"))
        {
            shared = LoadMlp(p + "shared_expert.", null);
            sharedGate = Mat(p + "shared_expert_gate.weight", 1, h);
        }
        return new MoeWeights(router, list, shared, sharedGate);
    }

    private VisionWeights LoadVision(VisionDims v)
    {
        const string p = "model.visual.";
        var blocks = new VisionBlockWeights[v.Depth];
        for (int i = 0; i < v.Depth; i++)
        {
            string b = $"{p}blocks.{i}.";
            blocks[i] = new VisionBlockWeights(
                Vec(b + "norm1.weight", v.Hidden), Vec(b + "norm1.bias", v.Hidden),
                ProjectionSet.Concatenated(Mat(b + "attn.qkv.weight", 3 * v.Hidden, v.Hidden), Vec(b + "attn.qkv.bias", 3 * v.Hidden), v.Hidden, v.Hidden, v.Hidden),
                Mat(b + "attn.proj.weight", v.Hidden, v.Hidden), Vec(b + "attn.proj.bias", v.Hidden),
                Vec(b + "norm2.weight", v.Hidden), Vec(b + "norm2.bias", v.Hidden),
                Mat(b + "mlp.linear_fc1.weight", v.Intermediate, v.Hidden), Vec(b + "mlp.linear_fc1.bias", v.Intermediate),
                Mat(b + "mlp.linear_fc2.weight", v.Hidden, v.Intermediate), Vec(b + "mlp.linear_fc2.bias", v.Hidden));
        }
        var deepstack = new PatchMergerWeights[v.DeepstackIndexes.Count];
        for (int i = 0; i < deepstack.Length; i++) deepstack[i] = LoadMerger($"{p}deepstack_merger_list.{i}.", v, postShuffleNorm: true);
        return new VisionWeights(
            Mat(p + "patch_embed.proj.weight", v.Hidden, v.PatchValues), Vec(p + "patch_embed.proj.bias", v.Hidden),
            // The position table is small and sampled per patch: held in memory.
            new Matrix(Mat(p + "pos_embed.weight", v.NumPositionEmbeddings, v.Hidden).Data, v.NumPositionEmbeddings, v.Hidden, p + "pos_embed.weight"),
            blocks, LoadMerger(p + "merger.", v, postShuffleNorm: false), deepstack);
    }

    private PatchMergerWeights LoadMerger(string p, VisionDims v, bool postShuffleNorm)
    {
        int merged = v.Hidden * v.MergeUnit;
        int normSize = postShuffleNorm ? merged : v.Hidden;
        return new PatchMergerWeights(
            Vec(p + "norm.weight", normSize), Vec(p + "norm.bias", normSize),
            Mat(p + "linear_fc1.weight", merged, merged), Vec(p + "linear_fc1.bias", merged),
            Mat(p + "linear_fc2.weight", v.OutHidden, merged), Vec(p + "linear_fc2.bias", v.OutHidden), postShuffleNorm);
    }

    private Matrix Mat(string name, int rows, int cols)
    {
        var meta = _source.Get(name);
        if (meta.Shape.Rank < 2 || meta.Shape[0] != rows || meta.NumElements != (long)rows * cols)
            throw new InvalidInputException($"{_source.Description}: tensor '{name}' has shape {meta.Shape}, expected {rows} x {cols} values");
        return TensorRows.Open(_source, name, 0, rows, cols);
    }

    private float[] Vec(string name, int count)
    {
        var meta = _source.Get(name);
        if (meta.NumElements != count)
            throw new InvalidInputException($"{_source.Description}: tensor '{name}' has shape {meta.Shape}, expected {count} values");
        return WeightReader.ReadFloats(_source, name);
    }
}
