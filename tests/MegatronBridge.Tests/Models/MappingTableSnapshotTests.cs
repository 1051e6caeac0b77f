using System.Text;
using System.Text.Json.Nodes;
using MegatronBridge.Config;
using MegatronBridge.Conversion;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Jobs;
using MegatronBridge.Models;
using MegatronBridge.Providers;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace MegatronBridge.Tests.Models;

/// <summary>
/// Every bridge's effective mapping table (the rows after composition, in resolution order) printed and compared with
/// <c>MappingTables.snapshot.txt</c>, and every row checked against the Megatron parameters of the real models that
/// use it (the tiny fixtures, their language-model-only views, the real-size configs, and a Qwen3-VL variant with
/// <c>attention_bias</c>). A row must be the first match of at least one parameter, unless the table marks it as an
/// alias (then it must match none) or it is one of the SequentialMLP expert rows listed below.
/// After a deliberate table change, rerun with MEGATRON_BRIDGE_UPDATE_SNAPSHOTS=1 to rewrite the snapshot, and review
/// its diff.
/// </summary>
public class MappingTableSnapshotTests(ITestOutputHelper output)
{
    /// <summary>
    /// Rows kept although no model here builds their names: megatron-core's SequentialMLP names its routed experts
    /// <c>local_experts.N.linear_fc1/2.weight</c> instead of TEGroupedMLP's <c>linear_fc1/2.weightN</c>; the model tree
    /// here builds grouped experts, but checkpoints saved with sequential experts carry these names.
    /// </summary>
    private static readonly string[] SequentialExpertRows =
    {
        ".mlp.experts.local_experts.*.linear_fc1.weight",
        ".mlp.experts.local_experts.*.linear_fc2.weight",
    };

    private static string SnapshotPath =>
        Path.Combine(Path.GetDirectoryName(TestPaths.Fixture("x"))!, "..", "MegatronBridge.Tests", "Models", "MappingTables.snapshot.txt");

    private sealed record ModelUse(string Source, GptModelProvider Provider, string LanguagePrefix, ModelTreeFunction Tree);

    private sealed class TableUse(string title, MappingTable table)
    {
        public string Title { get; } = title;
        public MappingTable Table { get; } = table;
        public List<ModelUse> Models { get; } = new();
    }

    private static ExpertLayouts Layouts(BridgeRegistration bridge, GptModelProvider provider, IReadOnlyList<TensorMeta> tensors, string where) =>
        bridge.IsMoe ? ExpertLayouts.Detect(tensors, bridge.HfLanguagePrefix + "layers.", provider.HiddenSize, where) : ExpertLayouts.Default;

    /// <summary>The tables in use, each with the models whose parameters it resolves, in a stable order.</summary>
    private static List<TableUse> Tables()
    {
        var tables = new List<TableUse>();
        void Use(BridgeRegistration bridge, GptModelProvider provider, IReadOnlyList<TensorMeta> tensors, string source)
        {
            var layouts = Layouts(bridge, provider, tensors, source);
            var title = bridge.IsMoe ? $"{bridge.BridgeName} (experts: decoder {layouts.Decoder}, MTP {layouts.Mtp})" : bridge.BridgeName;
            var use = tables.FirstOrDefault(t => t.Title == title);
            if (use is null) tables.Add(use = new TableUse(title, bridge.CreateMappingTable!(layouts)));
            use.Models.Add(new ModelUse(source, provider, bridge.MegatronLanguagePrefix, bridge.ModelTree));
        }

        foreach (var fixture in TestPaths.ModelFixtures)
        {
            var folder = TestPaths.Fixture(fixture);
            using var checkpoint = SafetensorsCheckpoint.Open(folder);
            var config = HfConfig.LoadFromFolder(folder);
            var (bridge, provider) = BridgeRegistry.CreateProvider(config);
            Use(bridge, provider, checkpoint.Tensors, fixture);
            if (BridgeRegistry.HasLanguageModelOnly(config))
            {
                var (lmBridge, lmProvider) = BridgeRegistry.ForLanguageModelOnly(config);
                Use(lmBridge, lmProvider, new LanguageModelOnlyView(checkpoint, config).Tensors, fixture + " (language model only)");
            }
            if (bridge.Architecture.StartsWith("Qwen3VL", StringComparison.Ordinal))
            {
                // Qwen3-VL's attention projections carry biases when attention_bias is set (no published model sets it).
                var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
                json["text_config"]!["attention_bias"] = true;
                var (biasBridge, biasProvider) = BridgeRegistry.CreateProvider(HfConfig.Parse(json.ToJsonString(), fixture + " with attention_bias"));
                Use(biasBridge, biasProvider, checkpoint.Tensors, fixture + " with attention_bias");
            }
        }
        foreach (var file in Directory.GetFiles(TestPaths.Fixture("real-configs"), "*.config.json").Order(StringComparer.Ordinal))
        {
            var (bridge, provider) = BridgeRegistry.CreateProvider(HfConfig.Load(file));
            Use(bridge, provider, Array.Empty<TensorMeta>(), Path.GetFileName(file));
        }
        return tables.OrderBy(t => t.Title, StringComparer.Ordinal).ToList();
    }

    private static bool IsSequentialExpertRow(MappingRow row) =>
        SequentialExpertRows.Any(suffix => row.Megatron.Text.EndsWith(suffix, StringComparison.Ordinal));

    /// <summary>How many parameters of the table's models resolve to each row (the first row that matches wins).</summary>
    private static int[] FirstMatches(TableUse use)
    {
        var counts = new int[use.Table.Rows.Count];
        foreach (var model in use.Models)
        {
            foreach (var param in model.Tree(model.Provider, model.LanguagePrefix))
            {
                for (int i = 0; i < use.Table.Rows.Count; i++)
                {
                    if (!use.Table.Rows[i].Megatron.TryMatch(param.Name, out _)) continue;
                    counts[i]++;
                    break;
                }
            }
        }
        return counts;
    }

    private static string Render(List<TableUse> tables)
    {
        var text = new StringBuilder();
        foreach (var use in tables)
        {
            text.Append("== ").Append(use.Title).Append(" (").Append(use.Table.Rows.Count).Append(" rows)\n");
            for (int i = 0; i < use.Table.Rows.Count; i++)
            {
                var row = use.Table.Rows[i];
                var mark = row.IsAlias ? "  [alias]" : IsSequentialExpertRow(row) ? "  [sequential experts]" : "";
                text.Append($"{i + 1,3}  {row.Kind,-16}  {row.Megatron.Text} <- {string.Join(" + ", row.Hf)}{mark}\n");
            }
            text.Append('\n');
        }
        return text.ToString();
    }

    [Fact]
    public void EffectiveTablesMatchTheSnapshot()
    {
        var actual = Render(Tables());
        output.WriteLine(actual);
        if (Environment.GetEnvironmentVariable("MEGATRON_BRIDGE_UPDATE_SNAPSHOTS") == "1") File.WriteAllText(SnapshotPath, actual);
        Assert.True(File.Exists(SnapshotPath), $"{SnapshotPath} is missing; run with MEGATRON_BRIDGE_UPDATE_SNAPSHOTS=1 to write it");
        var expected = File.ReadAllText(SnapshotPath).ReplaceLineEndings("\n");
        Assert.True(expected == actual,
            $"the effective mapping tables differ from {SnapshotPath}; if the change is deliberate, rerun with " +
            $"MEGATRON_BRIDGE_UPDATE_SNAPSHOTS=1 and review the diff. First difference at line {FirstDifferentLine(expected, actual)}.");
    }

    [Fact]
    public void EveryRowResolvesAParameterOrIsAMarkedAlias()
    {
        var problems = new List<string>();
        foreach (var use in Tables())
        {
            var counts = FirstMatches(use);
            for (int i = 0; i < counts.Length; i++)
            {
                var row = use.Table.Rows[i];
                if (row.IsAlias && counts[i] > 0)
                    problems.Add($"{use.Title} row {i + 1} is marked as an alias but resolves {counts[i]} parameter(s): {row}");
                else if (!row.IsAlias && counts[i] == 0 && !IsSequentialExpertRow(row))
                    problems.Add($"{use.Title} row {i + 1} resolves no parameter of {string.Join(", ", use.Models.Select(m => m.Source))}: {row}");
            }
        }
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void EveryBridgeHasATableInTheSnapshot()
    {
        var titles = Tables().Select(t => t.Title).ToList();
        foreach (var bridge in BridgeRegistry.All)
            Assert.Contains(titles, t => t == bridge.BridgeName || t.StartsWith(bridge.BridgeName + " (", StringComparison.Ordinal));
    }

    private static int FirstDifferentLine(string a, string b)
    {
        var x = a.Split('\n');
        var y = b.Split('\n');
        for (int i = 0; i < Math.Min(x.Length, y.Length); i++)
            if (x[i] != y[i]) return i + 1;
        return Math.Min(x.Length, y.Length) + 1;
    }
}
