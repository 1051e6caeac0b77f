using MegatronBridge.Providers;

namespace MegatronBridge.Conversion;

/// <summary>What a table row's factory receives: the Megatron parameter, the resolved HF names, the captures, the model.</summary>
internal sealed record MappingRequest(MegatronParam Param, IReadOnlyList<string> Hf, NameCaptures Captures, GptModelProvider Provider);

/// <summary>One line of a mapping table: Megatron pattern | HF pattern(s) | kind.</summary>
internal sealed record MappingRow(NamePattern Megatron, IReadOnlyList<string> Hf, string Kind, Func<MappingRequest, MappingKind> Build)
{
    /// <summary>
    /// True for a row kept only as an alternative name of another row's parameter (a separate-norm name such as
    /// <c>input_layernorm.weight</c> where the TransformerEngine layer fuses the norm into <c>linear_qkv</c>): it
    /// resolves like any row, but no model built here has that name.
    /// </summary>
    public bool IsAlias { get; init; }

    public override string ToString() => $"{Megatron.Text} <- {string.Join(", ", Hf)} ({Kind})";
}

/// <summary>
/// A bridge's weight mappings in registration order. A Megatron parameter resolves to the first row whose pattern
/// matches it (Megatron-Bridge's registry lookup order); the row's HF patterns are filled with the captured layer /
/// expert numbers.
/// </summary>
internal sealed class MappingTable
{
    public MappingTable(string name, IReadOnlyList<MappingRow> rows)
    {
        Name = name;
        Rows = rows;
    }

    public string Name { get; }
    public IReadOnlyList<MappingRow> Rows { get; }

    /// <summary>The mapping of <paramref name="param"/>, or null when no row matches.</summary>
    public MappingKind? Resolve(MegatronParam param, GptModelProvider provider)
    {
        foreach (var row in Rows)
        {
            if (!row.Megatron.TryMatch(param.Name, out var captures)) continue;
            var hf = row.Hf.Select(captures.Fill).ToArray();
            return row.Build(new MappingRequest(param, hf, captures, provider));
        }
        return null;
    }

    public override string ToString() => $"{Name} ({Rows.Count} rows)";
}
