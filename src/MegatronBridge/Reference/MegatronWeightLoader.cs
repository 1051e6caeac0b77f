using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Reference;

/// <summary>
/// Describes the reference forward's weights in Megatron-Core parameters at TP=1 (global names such as
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
/// <para>
/// The source may also hold tensor-parallel shards gathered from all ranks, named <c>name#tp{r}</c> (as
/// <see cref="Conversion.ShardNames"/> writes them): column-parallel weights then become one fused projection per
/// rank with that rank's own layout (rank-major GDN <c>in_proj</c> and conv1d, per-rank [gate_r ; up_r] fc1, the
/// rank's query groups of <c>linear_qkv</c>), row-parallel weights are joined along their input features, and
/// replicated ones must agree on every rank. Routed experts use the expert-tensor-parallel shard count.
/// </para>
/// </summary>
internal sealed class MegatronWeightLoader
{
    private readonly ITensorSource _source;
    private readonly ReferenceConfig _config;
    private readonly string _prefix;

    private MegatronWeightLoader(ITensorSource source, ReferenceConfig config)
    {
        _source = source;
        _config = config;
        _prefix = Has(source, "language_model.embedding.word_embeddings.weight") ? "language_model."
            : Has(source, "embedding.word_embeddings.weight") ? ""
            : throw new InvalidInputException($"{source.Description}: neither language_model.embedding.word_embeddings.weight nor embedding.word_embeddings.weight found (not Megatron parameters?)");
    }

    private static bool Has(ITensorSource source, string name) => source.Contains(name) || source.Contains(name + "#tp0");

    private bool Has(string name) => Has(_source, name);

    /// <summary>1 when the parameter is stored whole, else the number of consecutive #tp{r} shards.</summary>
    private int ShardCount(string name)
    {
        if (_source.Contains(name)) return 1;
        int count = 0;
        while (_source.Contains($"{name}#tp{count}")) count++;
        return count == 0 ? throw new InvalidInputException($"{_source.Description}: Megatron parameter '{name}' is missing") : count;
    }

    private static string ShardName(string name, int rank, int count) => count == 1 ? name : $"{name}#tp{rank}";

    /// <summary>
    /// Describes the weights without reading the matrices: every matrix (or tensor-parallel shard) stays in
    /// <paramref name="source"/> (which must stay open while the model is used) and is read a block at a time when a
    /// matmul needs it; norms, biases and routers are read when their layer is reached. Every layer is checked once
    /// here (names, shapes, dtypes, replicas), then dropped.
    /// </summary>
    public static ModelWeights Load(ITensorSource source, ReferenceConfig config) =>
        new MegatronWeightLoader(source, config).Load();

    private ModelWeights Load()
    {
        int h = _config.Hidden;
        var embedding = Mat(_prefix + "embedding.word_embeddings.weight", _config.Vocab, h);
        string output = _prefix + "output_layer.weight";
        Matrix lmHead;
        if (Has(output))
            lmHead = Mat(output, _config.Vocab, h);
        else if (_config.TieWordEmbeddings)
            lmHead = embedding; // share_embeddings_and_output_weights: Megatron has no output layer
        else
            throw new InvalidInputException($"{_source.Description}: no {output} and tie_word_embeddings is false ({_config.Where})");

        for (int i = 0; i < _config.Layers; i++) LoadLayer(i);
        var layers = new LazyList<DecoderLayerWeights>(_config.Layers, LoadLayer);
        var vision = _config.Vision is not null && Has("vision_model.patch_embed.proj.weight") ? LoadVision(_config.Vision) : null;
        return new ModelWeights(embedding, layers, Replicated(_prefix + "decoder.final_layernorm.weight", h), lmHead, vision);
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
        if (!Has(inputNorm) && Has(p + "input_layernorm.weight")) inputNorm = p + "input_layernorm.weight";

        MlpWeights? mlp = null;
        MoeWeights? moe = null;
        string postNorm;
        if (Has(p + "mlp.router.weight"))
        {
            moe = LoadMoe(p + "mlp.");
            postNorm = p + "pre_mlp_layernorm.weight";
        }
        else
        {
            mlp = LoadGatedMlp(p + "mlp.linear_fc1.weight", p + "mlp.linear_fc2.weight", null);
            postNorm = p + "mlp.linear_fc1.layer_norm_weight";
            if (!Has(postNorm) && Has(p + "pre_mlp_layernorm.weight")) postNorm = p + "pre_mlp_layernorm.weight";
        }
        int h = _config.Hidden;
        return new DecoderLayerWeights(Replicated(inputNorm, h), Replicated(postNorm, h), attention, gdn, mlp, moe);
    }

    /// <summary>
    /// linear_qkv rows, group-major: for each query group g, its query heads, then (gated) their gate heads, then K_g,
    /// V_g; rank r of a column-parallel split holds groups [r*ng/tp, (r+1)*ng/tp) in the same order.
    /// </summary>
    private AttentionWeights LoadAttention(string a)
    {
        int h = _config.Hidden, d = _config.HeadDim, heads = _config.Heads, groups = _config.KvHeads;
        bool gated = _config.AttentionOutputGate;
        int rows = ((gated ? 2 : 1) * heads + 2 * groups) * d;
        string name = a + "linear_qkv.weight";
        int tp = ShardCount(name);
        if (groups % tp != 0) throw new InvalidInputException($"{_source.Description}: {tp} tensor-parallel shards of '{name}' do not split {groups} query groups");
        var weights = ColumnShards(name, rows, h);
        var biases = Has(a + "linear_qkv.bias") ? ColumnShardVectors(a + "linear_qkv.bias", rows) : null;
        var widths = gated ? new[] { heads * d, groups * d, groups * d, heads * d } : new[] { heads * d, groups * d, groups * d };
        var projections = new FusedProjection[tp];
        for (int r = 0; r < tp; r++)
            projections[r] = new FusedProjection(weights[r], biases?[r], AttentionQkvBlocks(heads, groups, d, gated, r * groups / tp, groups / tp));
        return new AttentionWeights(new ProjectionSet(widths, projections), RowParallel(a + "linear_proj.weight", h, heads * d),
            Replicated(a + "q_layernorm.weight", d), Replicated(a + "k_layernorm.weight", d));
    }

    /// <summary>
    /// The row blocks of linear_qkv (or of one rank's shard, groups [first, first + count)): per query group g, its
    /// query heads, (gated) their gate heads, K_g, V_g.
    /// </summary>
    internal static IReadOnlyList<RowBlock> AttentionQkvBlocks(int heads, int groups, int d, bool gated, int firstGroup = 0, int groupCount = -1)
    {
        int perGroup = heads / groups;
        var blocks = new List<RowBlock>();
        for (int g = firstGroup; g < firstGroup + (groupCount < 0 ? groups : groupCount); g++)
        {
            blocks.Add(new RowBlock(AttentionParts.Query, g * perGroup * d, perGroup * d));
            if (gated) blocks.Add(new RowBlock(AttentionParts.Gate, g * perGroup * d, perGroup * d));
            blocks.Add(new RowBlock(AttentionParts.Key, g * d, d));
            blocks.Add(new RowBlock(AttentionParts.Value, g * d, d));
        }
        return blocks;
    }

    /// <summary>
    /// in_proj rows [Q (nk*dk) ; K (nk*dk) ; V (nv*dv) ; Z (nv*dv) ; beta (nv) ; alpha (nv)], conv1d channels [Q ; K ; V];
    /// with tensor parallelism each rank holds that layout for its own key heads (and their value heads).
    /// </summary>
    private GatedDeltaNetWeights LoadGatedDeltaNet(string a)
    {
        int h = _config.Hidden, nk = _config.LinearKeyHeads, nv = _config.LinearValueHeads;
        int keyDim = nk * _config.LinearKeyHeadDim, valueDim = nv * _config.LinearValueHeadDim;
        int convDim = 2 * keyDim + valueDim, kernel = _config.ConvKernel;
        string inProjName = a + "in_proj.weight";
        int tp = ShardCount(inProjName);
        if (nk % tp != 0 || nv % tp != 0) throw new InvalidInputException($"{_source.Description}: {tp} tensor-parallel shards of '{inProjName}' do not split {nk} key / {nv} value heads");
        int k = keyDim / tp, v = valueDim / tp, n = nv / tp;

        var inProjShards = ColumnShards(inProjName, convDim + valueDim + 2 * nv, h);
        var projections = new FusedProjection[tp];
        for (int r = 0; r < tp; r++)
        {
            projections[r] = new FusedProjection(inProjShards[r], null, new[]
            {
                new RowBlock(GdnParts.Qkv, r * k, k),                    // query of this rank's key heads
                new RowBlock(GdnParts.Qkv, keyDim + r * k, k),           // key
                new RowBlock(GdnParts.Qkv, 2 * keyDim + r * v, v),       // value of their value heads
                new RowBlock(GdnParts.Z, r * v, v),
                new RowBlock(GdnParts.B, r * n, n),
                new RowBlock(GdnParts.A, r * n, n),
            });
        }
        var inProj = new ProjectionSet(new[] { convDim, valueDim, nv, nv }, projections);

        // conv1d [channels, 1, kernel]: rank r's channels are [q_r ; k_r ; v_r]; put each back at its global channel.
        var convShards = ColumnShardVectors(a + "conv1d.weight", convDim * kernel);
        var conv = new float[convDim * kernel];
        for (int r = 0; r < tp; r++)
        {
            var shard = convShards[r];
            shard.AsSpan(0, k * kernel).CopyTo(conv.AsSpan(r * k * kernel));
            shard.AsSpan(k * kernel, k * kernel).CopyTo(conv.AsSpan((keyDim + r * k) * kernel));
            shard.AsSpan(2 * k * kernel, v * kernel).CopyTo(conv.AsSpan((2 * keyDim + r * v) * kernel));
        }

        // Megatron's out_norm is zero-centred (layernorm_zero_centered_gamma): it scales by 1 + w.
        var outNorm = Replicated(a + "out_norm.weight", _config.LinearValueHeadDim);
        for (int i = 0; i < outNorm.Length; i++) outNorm[i] += 1f;

        return new GatedDeltaNetWeights(
            inProj, conv, Column(a + "dt_bias", nv), Column(a + "A_log", nv), outNorm, RowParallel(a + "out_proj.weight", h, valueDim));
    }

    /// <summary>
    /// A SwiGLU MLP from linear_fc1 [gate ; up] and linear_fc2; with tensor parallelism each rank's fc1 is
    /// [gate_r ; up_r]. The intermediate size comes from fc1 when not given.
    /// </summary>
    private MlpWeights LoadGatedMlp(string fc1, string fc2, int? intermediate)
    {
        int h = _config.Hidden;
        int tp = ShardCount(fc1);
        var meta = _source.Get(ShardName(fc1, 0, tp));
        int inter = intermediate ?? (meta.Shape.Rank == 2 && meta.Shape[0] % 2 == 0 && meta.Shape[0] > 0
            ? (int)(meta.Shape[0] / 2) * tp
            : throw new InvalidInputException($"{_source.Description}: tensor '{ShardName(fc1, 0, tp)}' has shape {meta.Shape}, expected [2 x intermediate, {h}]"));
        if (inter % tp != 0) throw new InvalidInputException($"{_source.Description}: {tp} tensor-parallel shards of '{fc1}' do not split intermediate size {inter}");
        int local = inter / tp;
        var shards = ColumnShards(fc1, 2 * inter, h);
        var projections = new FusedProjection[tp];
        for (int r = 0; r < tp; r++)
            projections[r] = new FusedProjection(shards[r], null, new[] { new RowBlock(0, r * local, local), new RowBlock(1, r * local, local) });
        return new MlpWeights(new ProjectionSet(new[] { inter, inter }, projections), RowParallel(fc2, h, inter));
    }

    private MoeWeights LoadMoe(string p)
    {
        int h = _config.Hidden;
        string routerName = p + "router.weight";
        var routerMeta = _source.Get(ShardName(routerName, 0, ShardCount(routerName)));
        if (routerMeta.Shape.Rank != 2 || routerMeta.Shape[0] <= 0)
            throw new InvalidInputException($"{_source.Description}: tensor '{routerName}' has shape {routerMeta.Shape}, expected [experts, {h}]");
        int experts = (int)routerMeta.Shape[0];
        if (_config.NumExpertsPerToken <= 0 || _config.NumExpertsPerToken > experts)
            throw new InvalidInputException($"{_config.Where}: num_experts_per_tok {_config.NumExpertsPerToken} does not fit {experts} experts of {routerName}");
        var router = new Matrix(Replicated(routerName, experts * h), experts, h, routerName);

        var list = new MlpWeights[experts];
        for (int e = 0; e < experts; e++)
        {
            // TEGroupedMLP names the expert by a weight suffix; SequentialMLP by a submodule index.
            string grouped = $"{p}experts.linear_fc1.weight{e}", sequential = $"{p}experts.local_experts.{e}.linear_fc1.weight";
            list[e] = Has(grouped) ? LoadGatedMlp(grouped, $"{p}experts.linear_fc2.weight{e}", _config.MoeIntermediate)
                : Has(sequential) ? LoadGatedMlp(sequential, $"{p}experts.local_experts.{e}.linear_fc2.weight", _config.MoeIntermediate)
                : throw new InvalidInputException($"{_source.Description}: expert {e} of {routerName} has neither '{grouped}' nor '{sequential}'");
        }

        MlpWeights? shared = null;
        Matrix? sharedGate = null;
        if (Has(p + "shared_experts.linear_fc1.weight"))
        {
            shared = LoadGatedMlp(p + "shared_experts.linear_fc1.weight", p + "shared_experts.linear_fc2.weight", null);
            if (Has(p + "shared_experts.gate_weight")) sharedGate = new Matrix(Replicated(p + "shared_experts.gate_weight", h), 1, h, p + "shared_experts.gate_weight");
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
            string qkvName = b + "self_attention.linear_qkv.weight";
            int tp = ShardCount(qkvName);
            if (v.Heads % tp != 0) throw new InvalidInputException($"{_source.Description}: {tp} tensor-parallel shards of '{qkvName}' do not split {v.Heads} heads");
            var weights = ColumnShards(qkvName, 3 * hv, hv);
            var biases = ColumnShardVectors(b + "self_attention.linear_qkv.bias", 3 * hv);
            var projections = new FusedProjection[tp];
            for (int r = 0; r < tp; r++)
                projections[r] = new FusedProjection(weights[r], biases[r], VisionQkvBlocks(v.Heads, hd, r * v.Heads / tp, v.Heads / tp));
            blocks[j] = new VisionBlockWeights(
                Replicated(b + "self_attention.linear_qkv.layer_norm_weight", hv), Replicated(b + "self_attention.linear_qkv.layer_norm_bias", hv),
                new ProjectionSet(new[] { hv, hv, hv }, projections),
                RowParallel(b + "self_attention.linear_proj.weight", hv, hv), Replicated(b + "self_attention.linear_proj.bias", hv),
                Replicated(b + "mlp.linear_fc1.layer_norm_weight", hv), Replicated(b + "mlp.linear_fc1.layer_norm_bias", hv),
                Mat(b + "mlp.linear_fc1.weight", v.Intermediate, hv), Column(b + "mlp.linear_fc1.bias", v.Intermediate),
                RowParallel(b + "mlp.linear_fc2.weight", hv, v.Intermediate), Replicated(b + "mlp.linear_fc2.bias", hv));
        }
        var deepstack = new PatchMergerWeights[v.DeepstackIndexes.Count];
        for (int k = 0; k < deepstack.Length; k++) deepstack[k] = LoadMerger($"{p}decoder.deepstack_merger_list.{k}.", v, postShuffleNorm: true);
        return new VisionWeights(
            ReplicatedMat(p + "patch_embed.proj.weight", hv, v.PatchValues), Replicated(p + "patch_embed.proj.bias", hv),
            ReplicatedMat(p + "pos_embed.weight", v.NumPositionEmbeddings, hv),
            blocks, LoadMerger(p + "merger.", v, postShuffleNorm: false), deepstack);
    }

    /// <summary>
    /// Vision linear_qkv rows (weight and bias alike), or one rank's heads [first, first + count): per head h,
    /// [Q_h ; K_h ; V_h] of head_dim rows each.
    /// </summary>
    internal static IReadOnlyList<RowBlock> VisionQkvBlocks(int heads, int headDim, int firstHead = 0, int headCount = -1)
    {
        var blocks = new List<RowBlock>();
        for (int head = firstHead; head < firstHead + (headCount < 0 ? heads : headCount); head++)
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
            Replicated(p + "patch_norm.weight", normSize), Replicated(p + "patch_norm.bias", normSize),
            Mat(p + "linear_fc1.weight", merged, merged), Column(p + "linear_fc1.bias", merged),
            RowParallel(p + "linear_fc2.weight", v.OutHidden, merged), Replicated(p + "linear_fc2.bias", v.OutHidden), postShuffleNorm);
    }

    // Readers. Each takes the global (TP=1) size and reads the parameter whole or from its #tp{r} shards.

    /// <summary>A column-parallel matrix: the ranks' row blocks one after another (embedding / output layer may carry padding rows at the end).</summary>
    private Matrix Mat(string name, int rows, int cols)
    {
        int tp = ShardCount(name);
        bool padded = tp > 1 && name.EndsWith("word_embeddings.weight", StringComparison.Ordinal) || tp > 1 && name.EndsWith("output_layer.weight", StringComparison.Ordinal);
        int local = padded ? (rows + tp - 1) / tp : rows;
        var shards = padded ? ColumnShards(name, local * tp, cols) : ColumnShards(name, rows, cols);
        return tp == 1 ? shards[0] : new Matrix(new StackedRows(shards), rows, cols, name);
    }

    /// <summary>Each rank's [rows / tp, cols] block of a column-parallel weight.</summary>
    private Matrix[] ColumnShards(string name, int rows, int cols)
    {
        int tp = ShardCount(name);
        if (rows % tp != 0) throw new InvalidInputException($"{_source.Description}: {tp} tensor-parallel shards do not split the {rows} rows of '{name}'");
        var shards = new Matrix[tp];
        for (int r = 0; r < tp; r++)
        {
            string shard = ShardName(name, r, tp);
            var meta = Need(shard);
            if (meta.Shape.Rank < 2 || meta.Shape[0] != rows / tp || meta.NumElements != (long)rows / tp * cols)
                throw new InvalidInputException($"{_source.Description}: tensor '{shard}' has shape {meta.Shape}, expected {rows / tp} x {cols} values");
            shards[r] = TensorRows.Open(_source, shard, 0, rows / tp, cols);
        }
        return shards;
    }

    /// <summary>Each rank's count / tp values of a column-parallel vector (or of a tensor split on its first dim).</summary>
    private float[][] ColumnShardVectors(string name, int count)
    {
        int tp = ShardCount(name);
        if (count % tp != 0) throw new InvalidInputException($"{_source.Description}: {tp} tensor-parallel shards do not split the {count} values of '{name}'");
        var shards = new float[tp][];
        for (int r = 0; r < tp; r++)
        {
            string shard = ShardName(name, r, tp);
            var meta = Need(shard);
            if (meta.NumElements != count / tp)
                throw new InvalidInputException($"{_source.Description}: tensor '{shard}' has shape {meta.Shape}, expected {count / tp} values");
            shards[r] = WeightReader.ReadFloats(_source, shard);
        }
        return shards;
    }

    private float[] Column(string name, int count) => ColumnShardVectors(name, count).SelectMany(x => x).ToArray();

    /// <summary>A row-parallel matrix [rows, cols]: rank r holds input features [r*cols/tp, (r+1)*cols/tp).</summary>
    private Matrix RowParallel(string name, int rows, int cols)
    {
        int tp = ShardCount(name);
        if (cols % tp != 0) throw new InvalidInputException($"{_source.Description}: {tp} tensor-parallel shards do not split the {cols} input features of '{name}'");
        int local = cols / tp;
        var shards = new Matrix[tp];
        for (int r = 0; r < tp; r++)
        {
            string shard = ShardName(name, r, tp);
            var meta = Need(shard);
            if (meta.Shape.Rank != 2 || meta.Shape[0] != rows || meta.Shape[1] != local)
                throw new InvalidInputException($"{_source.Description}: tensor '{shard}' has shape {meta.Shape}, expected [{rows}, {local}]");
            shards[r] = TensorRows.Open(_source, shard, 0, rows, local);
        }
        return tp == 1 ? shards[0] : new Matrix(new JoinedColumns(shards), rows, cols, name);
    }

    /// <summary>A replicated parameter: rank 0's copy, which every other rank's must equal.</summary>
    private float[] Replicated(string name, int count)
    {
        int tp = ShardCount(name);
        float[]? first = null;
        for (int r = 0; r < tp; r++)
        {
            string shard = ShardName(name, r, tp);
            var meta = Need(shard);
            if (meta.NumElements != count)
                throw new InvalidInputException($"{_source.Description}: tensor '{shard}' has shape {meta.Shape}, expected {count} values");
            var values = WeightReader.ReadFloats(_source, shard);
            if (first is null) first = values;
            else if (!first.AsSpan().SequenceEqual(values))
                throw new InvalidInputException($"{_source.Description}: replicated parameter '{name}' differs between tensor-parallel ranks 0 and {r}");
        }
        return first!;
    }

    private Matrix ReplicatedMat(string name, int rows, int cols)
    {
        var meta = Need(ShardName(name, 0, ShardCount(name)));
        if (meta.Shape.Rank < 2 || meta.Shape[0] != rows)
            throw new InvalidInputException($"{_source.Description}: tensor '{meta.Name}' has shape {meta.Shape}, expected {rows} x {cols} values");
        return new Matrix(Replicated(name, rows * cols), rows, cols, name);
    }

    private TensorMeta Need(string name) =>
        _source.TryGet(name, out var meta) ? meta : throw new InvalidInputException($"{_source.Description}: Megatron parameter '{name}' is missing");
}
