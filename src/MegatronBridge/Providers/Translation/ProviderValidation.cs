using MegatronBridge.Config;
using MegatronBridge.IO;

namespace MegatronBridge.Providers;

/// <summary>Consistency checks on a translated provider; messages name the HF config and its field.</summary>
internal static class ProviderValidation
{
    /// <summary>
    /// Far above any real model (the largest have ~100 layers and 512 experts); a config beyond these is damaged, and
    /// planning its billions of parameters would run for hours instead of failing.
    /// </summary>
    public const int MaxLayers = 1024;
    public const int MaxExperts = 4096;
    /// <summary>Far above any real model's head count (the largest have 128); the mappings take heads one group at a time.</summary>
    public const int MaxHeads = 65536;

    public static void Validate(GptModelProvider p, TextConfig tc)
    {
        var where = tc.Where;
        if (p.NumLayers > MaxLayers)
            throw new InvalidInputException($"{where}: num_hidden_layers ({p.NumLayers}) is implausibly large (more than {MaxLayers})");
        if (p.MtpNumLayers > MaxLayers)
            throw new InvalidInputException($"{where}: mtp_num_hidden_layers ({p.MtpNumLayers}) is implausibly large (more than {MaxLayers})");
        if (p.NumMoeExperts > MaxExperts)
            throw new InvalidInputException($"{where}: the number of experts ({p.NumMoeExperts}) is implausibly large (more than {MaxExperts})");
        HeadsPlausible(where, "num_attention_heads", p.NumAttentionHeads);
        HeadsPlausible(where, "num_key_value_heads", p.NumQueryGroups);
        if (p.NumAttentionHeads % p.NumQueryGroups != 0)
            throw new InvalidInputException($"{where}: num_attention_heads ({p.NumAttentionHeads}) is not divisible by num_key_value_heads ({p.NumQueryGroups})");
        if (p.KvChannels <= 0)
            throw new InvalidInputException($"{where}: head_dim is not set and hidden_size ({p.HiddenSize}) / num_attention_heads ({p.NumAttentionHeads}) is 0");

        // ffn_hidden_size is intermediate_size, or 4 x hidden_size when that is absent or null (HfKwargs, and
        // GptModelProvider's default): the product must be a real 32-bit size too.
        DerivedSizeFits(where, "ffn_hidden_size (intermediate_size, else 4 x hidden_size)", tc.Int("intermediate_size") ?? 4L * p.HiddenSize);

        if (p.ExperimentalAttentionVariant is not null)
        {
            // The GDN projection sizes are products of config fields (GptModelProvider's LinearQueryKeyDim,
            // LinearValueDim, LinearConvChannels): each must be a real 32-bit size.
            HeadsPlausible(where, "linear_num_key_heads", p.LinearNumKeyHeads);
            HeadsPlausible(where, "linear_num_value_heads", p.LinearNumValueHeads);
            long qk = (long)p.LinearNumKeyHeads * p.LinearKeyHeadDim, vd = (long)p.LinearNumValueHeads * p.LinearValueHeadDim;
            DerivedSizeFits(where, "linear_num_key_heads x linear_key_head_dim", qk);
            DerivedSizeFits(where, "linear_num_value_heads x linear_value_head_dim", vd);
            DerivedSizeFits(where, "the GDN conv1d channels (2 x key dim + value dim)", 2 * qk + vd);
            if (p.LinearNumValueHeads % p.LinearNumKeyHeads != 0)
                throw new InvalidInputException($"{where}: linear_num_value_heads ({p.LinearNumValueHeads}) is not divisible by linear_num_key_heads ({p.LinearNumKeyHeads})");
            if (p.LinearAttentionFreq?.Pattern is { } pattern && pattern.Count != p.NumLayers)
                throw new InvalidInputException($"{where}: layer_types has {pattern.Count} entries but num_hidden_layers is {p.NumLayers}");
        }

        if (p.Vision is { } v)
        {
            // VisionTransformerConfig's MergedHiddenSize and PatchInputSize, computed wide.
            DerivedSizeFits(where, "vision_config spatial_merge_size^2 x hidden_size", Product(v.SpatialMergeSize, v.SpatialMergeSize, v.HiddenSize));
            DerivedSizeFits(where, "vision_config in_channels x temporal_patch_size x patch_size^2", Product(v.InChannels, v.TemporalPatchSize, v.PatchSize, v.PatchSize));
        }

        if (p.NumMoeExperts is { } experts && p.MoeRouterTopk > experts)
            throw new InvalidInputException($"{where}: num_experts_per_tok ({p.MoeRouterTopk}) is larger than the number of experts ({experts})");

        if (p.MropeSection is { } sections)
        {
            if (sections.Count == 0 || sections.Any(s => s <= 0))
                throw new InvalidInputException($"{where}: rope_parameters.mrope_section must be a non-empty list of positive integers");
            // Each section counts rotary frequency pairs. Qwen3.5's interleaved mRoPE (transformers'
            // apply_interleaved_mrope, Megatron-Bridge's too) assigns frequencies by index: H takes 1, 4, 7, ... below
            // 3 x section[1], W takes 2, 5, 8, ... below 3 x section[2], T the rest; any sizes work there. Elsewhere
            // the sections must cover the rotary part of one head exactly.
            var rotaryDim = (int)(p.KvChannels * p.RotaryPercent);
            long sum = sections.Sum(s => (long)s); // wide: sections near the int range must not overflow the check
            if (p is not Qwen35VLModelProvider && sum * 2 != rotaryDim)
                throw new InvalidInputException($"{where}: rope_parameters.mrope_section [{string.Join(", ", sections)}] sums to {sum}, but the rotary dimension is {rotaryDim} (head_dim {p.KvChannels} x partial_rotary_factor {p.RotaryPercent}), i.e. {rotaryDim / 2} frequency pairs");
        }
    }

    /// <summary>The product of 32-bit fields, held at the 64-bit range when it goes past it.</summary>
    private static long Product(params int[] factors)
    {
        System.Numerics.BigInteger product = 1;
        foreach (var f in factors) product *= f;
        return product > long.MaxValue ? long.MaxValue : product < long.MinValue ? long.MinValue : (long)product;
    }

    /// <summary>A size the provider derives from several config fields: negative or past 32 bits means no real tensor.</summary>
    private static void DerivedSizeFits(string where, string what, long value)
    {
        if (value is < 0 or > int.MaxValue)
            throw new InvalidInputException($"{where}: config.json implies an impossible tensor shape ({what} = {value}); check its size fields");
    }

    private static void HeadsPlausible(string where, string field, int heads)
    {
        if (heads > MaxHeads)
            throw new InvalidInputException($"{where}: field '{field}' ({heads}) is implausibly large (more than {MaxHeads})");
    }
}
