using MegatronBridge.Providers;
using MegatronBridge.Tensors;

namespace MegatronBridge.Conversion;

/// <summary>
/// Megatron-LM pads the vocabulary of the embedding and the output layer with dummy rows up to a multiple of
/// <c>make_vocab_size_divisible_by x tensor_model_parallel_size</c> (its <c>vocab_size_with_padding</c>, formerly
/// <c>_vocab_size_with_padding</c>). Megatron-Bridge does the same at both ends: on import its column-parallel
/// mapping appends zero rows to the HF tensor when the Megatron parameter is taller (param_mapping.py,
/// <c>_pad_right_dim0</c>), and on export it cuts the rows beyond the HF <c>vocab_size</c> (model_bridge.py,
/// <c>_truncate_vocab_padding</c>). Here a padded conversion is planned over a provider whose vocab_size is the padded
/// one, with the HF vocab tensors seen zero-padded (import, verify) or cut back to the HF rows (export).
/// </summary>
internal static class VocabPadding
{
    private static readonly string[] VocabParams = { "embedding.word_embeddings.weight", "output_layer.weight" };

    /// <summary>Megatron-LM's padded size: <paramref name="vocab"/> rounded up to a multiple of divisibleBy x tp.</summary>
    public static int PaddedSize(int vocab, int divisibleBy, int tp)
    {
        if (divisibleBy <= 0) throw new ArgumentOutOfRangeException(nameof(divisibleBy), divisibleBy, "make_vocab_size_divisible_by must be positive");
        long multiple = (long)divisibleBy * Math.Max(tp, 1);
        return checked((int)((vocab + multiple - 1) / multiple * multiple));
    }

    /// <summary>Whether <paramref name="megatronName"/> is a vocabulary-sized parameter (embedding, output layer).</summary>
    public static bool IsVocabParam(string megatronName) => VocabParams.Any(s => megatronName.EndsWith(s, StringComparison.Ordinal) && !megatronName.Contains(".mtp.", StringComparison.Ordinal));

    /// <summary>The HF tensors that hold vocabulary rows (embed_tokens, lm_head) in <paramref name="model"/>.</summary>
    public static IReadOnlySet<string> HfVocabTensors(ModelMapping model) =>
        model.Mappings.Where(m => IsVocabParam(m.Megatron.Name)).SelectMany(m => m.HfTensors).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);

    /// <summary>The provider with the padded vocabulary size, for planning the Megatron shapes.</summary>
    public static GptModelProvider Padded(GptModelProvider provider, int paddedVocab) =>
        paddedVocab == provider.VocabSize ? provider : provider with { VocabSize = paddedVocab };

    /// <summary>Export: the HF vocab tensors' recipes cut to their first <paramref name="vocab"/> rows.</summary>
    public static IReadOnlyList<TensorRecipe> Trim(IReadOnlyList<TensorRecipe> recipes, IReadOnlySet<string> hfVocabTensors, int vocab) =>
        recipes.Select(r => hfVocabTensors.Contains(r.Output.Name) && r.Output.Shape[0] > vocab ? r.NarrowRows(0, vocab) : r).ToList();

    /// <summary>
    /// An HF checkpoint whose vocab tensors read as <paramref name="paddedVocab"/> rows: the stored rows, then zeros
    /// (Megatron-Bridge's padding on import; what verify expects in the padding rows).
    /// </summary>
    public sealed class PaddedSource(ITensorSource inner, IReadOnlySet<string> vocabTensors, int paddedVocab) : ITensorSource
    {
        private readonly IReadOnlyList<TensorMeta> _tensors = inner.Tensors.Select(t => Pad(t, vocabTensors, paddedVocab)).ToList();

        public string Description => inner.Description;
        public IReadOnlyList<TensorMeta> Tensors => _tensors;

        public bool TryGet(string name, out TensorMeta meta)
        {
            if (!inner.TryGet(name, out meta)) return false;
            meta = Pad(meta, vocabTensors, paddedVocab);
            return true;
        }

        public void Read(string name, long byteOffset, Span<byte> destination)
        {
            var stored = inner.Get(name).ByteLength;
            long real = Math.Clamp(stored - byteOffset, 0, destination.Length);
            if (real > 0) inner.Read(name, byteOffset, destination[..(int)real]);
            destination[(int)real..].Clear();
        }

        private static TensorMeta Pad(TensorMeta t, IReadOnlySet<string> names, int rows) =>
            names.Contains(t.Name) && t.Shape.Rank == 2 && t.Shape[0] < rows ? t with { Shape = t.Shape.WithDim(0, rows) } : t;
    }
}
