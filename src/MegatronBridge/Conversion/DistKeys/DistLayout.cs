namespace MegatronBridge.Conversion.DistKeys;

/// <summary>
/// How megatron-core's <c>sharded_state_dict</c> stores one parameter in a torch_dist checkpoint, stated by the model
/// block that creates the parameter (docs/formats.md, Keys and chunks): the key it lives under, the stacked axes it
/// sits on, and how its rows are stored. <see cref="DistKeyPlanner"/> only reads this; it knows no module names.
/// </summary>
/// <param name="Key">The key without any section suffix, with the MTP inner layer under its in-memory name
/// (<c>mtp_model_layer</c>; the planner writes the name <see cref="DistKeyOptions.MtpLayerName"/> asks for).</param>
/// <param name="Axes">Leading axes, outermost first: the parameter's entry in each stacked module list (layers, then
/// experts) whose entries share one key.</param>
/// <param name="Rows">Whole, two gated halves of one key, or named row sections stored as separate keys.</param>
internal sealed record DistLayout(string Key, IReadOnlyList<DistAxis> Axes, DistRows Rows)
{
    public bool Equals(DistLayout? other) =>
        other is not null && Key == other.Key && Axes.SequenceEqual(other.Axes) && Rows.Equals(other.Rows);

    public override int GetHashCode() => HashCode.Combine(Key, Axes.Count, Rows);

    public override string ToString() =>
        $"{Key} [{string.Join(", ", Axes.Select(a => $"{a.Index}/{a.Length}"))}] {Rows}";
}

/// <summary>One stacked axis: entry <see cref="Index"/> of a module list of <see cref="Length"/> entries.</summary>
internal readonly record struct DistAxis(long Index, long Length);

/// <summary>A named run of rows stored as its own key (the key gets <c>.Name</c> appended).</summary>
internal readonly record struct DistSection(string Name, long Rows);

/// <summary>How the rows (dimension 0) of a parameter are stored.</summary>
internal sealed record DistRows
{
    private DistRows(DistRowsKind kind, IReadOnlyList<DistSection> sections)
    {
        Kind = kind;
        Sections = sections;
    }

    public DistRowsKind Kind { get; }

    /// <summary>The sections of <see cref="DistRowsKind.Sections"/>, in row order; empty otherwise.</summary>
    public IReadOnlyList<DistSection> Sections { get; }

    /// <summary>All rows in one chunk of one key.</summary>
    public static DistRows Whole { get; } = new(DistRowsKind.Whole, Array.Empty<DistSection>());

    /// <summary>
    /// A gated linear unit's fc1: the gate half and the up half are two chunks of one key (megatron-core's
    /// <c>apply_swiglu_sharded_factory</c>), so that a checkpoint reshards with the halves kept apart.
    /// </summary>
    public static DistRows GatedHalves { get; } = new(DistRowsKind.GatedHalves, Array.Empty<DistSection>());

    /// <summary>Consecutive row sections, each stored as its own key named by the parameter's key and the section name.</summary>
    public static DistRows NamedSections(params DistSection[] sections)
    {
        if (sections.Length == 0) throw new ArgumentException("named row sections need at least one section", nameof(sections));
        return new DistRows(DistRowsKind.Sections, sections.ToArray());
    }

    public bool Equals(DistRows? other) =>
        other is not null && Kind == other.Kind && Sections.SequenceEqual(other.Sections);

    public override int GetHashCode() => HashCode.Combine(Kind, Sections.Count);

    public override string ToString() => Kind switch
    {
        DistRowsKind.Sections => "sections " + string.Join(", ", Sections.Select(s => $"{s.Name}:{s.Rows}")),
        _ => Kind.ToString(),
    };
}

internal enum DistRowsKind
{
    Whole,
    GatedHalves,
    Sections,
}
