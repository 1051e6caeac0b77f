using System.Text.RegularExpressions;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Architecture;

/// <summary>
/// The code's layers point one way. Each top-level namespace <c>MegatronBridge.X</c> is a layer; a layer may use only
/// the layers listed before its own group, never a peer in its group and never a later one:
/// <code>
///   IO &lt; Tensors &lt; Formats &lt; Config &lt; Providers &lt; Conversion &lt; Models
///      &lt; (Reference | Preprocessing) &lt; Jobs &lt; Benchmarks &lt; Cli
/// </code>
/// Benchmarks is its own assembly (src/MegatronBridge.Benchmarks, above every layer of the library, which it may all
/// use); the library assembly holds no Benchmarks namespace and embeds no bench data.
/// Inside Models, each family (<c>Models.Qwen35</c>, <c>Models.Qwen3VL</c>, ...) may use the Models root,
/// <c>Models.Shared</c> and <c>Models.Blocks</c> (the reusable module blocks every family's module tree is composed
/// of) but no other family; <c>Models.Shared</c> may use <c>Models.Blocks</c> and no family, and
/// <c>Models.Blocks</c> uses neither a family nor <c>Models.Shared</c>.
/// A file's uses are its <c>using MegatronBridge.X</c> directives and every fully-qualified <c>MegatronBridge.X.</c>
/// reference in it (crefs included).
/// </summary>
public class LayerTests
{
    /// <summary>The allowed order, lowest first; the namespaces in one group are peers that must not use each other.</summary>
    private static readonly string[][] Order =
    {
        new[] { "IO" },
        new[] { "Tensors" },
        new[] { "Formats" },
        new[] { "Config" },
        new[] { "Providers" },
        new[] { "Conversion" },
        new[] { "Models" },
        new[] { "Reference", "Preprocessing" },
        new[] { "Jobs" },
        new[] { "Benchmarks" },
        new[] { "Cli" },
    };

    private static readonly Regex NamespaceLine = new(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline);
    private static readonly Regex Reference = new(@"\bMegatronBridge((?:\.[A-Z]\w*)+)");

    [Fact]
    public void EveryNamespace_UsesOnlyLayersBelowIt()
    {
        var files = SourceFiles();
        Assert.True(files.Count > 100, $"expected the library and CLI sources under {SourceRoot()}, found {files.Count} files");

        var unranked = files.Select(f => Layer(f.Namespace)).Where(l => Rank(l) < 0).Distinct().ToList();
        Assert.True(unranked.Count == 0, $"namespaces with no place in the layer order (add them to {nameof(Order)}): {string.Join(", ", unranked)}");

        var violations = files.SelectMany(f => Violations(f.Path, f.Namespace, f.Text)).ToList();
        Assert.True(violations.Count == 0, "layer violations:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void TheBench_IsItsOwnAssembly_AndTheLibraryHoldsNoneOfIt()
    {
        var library = typeof(MegatronBridge.Jobs.CheckpointConverter).Assembly;
        var bench = typeof(MegatronBridge.Benchmarks.BenchRunner).Assembly;
        Assert.NotEqual(library, bench);
        Assert.Equal("MegatronBridge.Benchmarks", bench.GetName().Name);
        var benchTypesInLibrary = library.GetTypes().Where(t => IsBenchNamespace(t.Namespace)).Select(t => t.FullName).ToList();
        Assert.True(benchTypesInLibrary.Count == 0, "library types in the Benchmarks namespace: " + string.Join(", ", benchTypesInLibrary));
        // Attribute and helper types the compiler emits (nullable metadata, <PrivateImplementationDetails>) aside.
        var benchTypes = bench.GetTypes().Where(t => !t.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute), false)).ToList();
        Assert.Contains(benchTypes, t => t.Name == "BenchSynthesizer");
        Assert.All(benchTypes, t => Assert.True(IsBenchNamespace(t.Namespace), $"{t.FullName} is not in MegatronBridge.Benchmarks"));
        // The real-size configs are the bench's data, embedded in the bench assembly only.
        Assert.DoesNotContain(library.GetManifestResourceNames(), r => r.Contains("RealConfigs", StringComparison.Ordinal));
        Assert.Equal(3, bench.GetManifestResourceNames().Count(r => r.StartsWith("MegatronBridge.RealConfigs.", StringComparison.Ordinal)));

        // Sources: the library folder has no Benchmarks file, the bench folder nothing else.
        foreach (var f in SourceFiles())
        {
            string project = f.Path.Split(Path.DirectorySeparatorChar)[0];
            if (project == "MegatronBridge") Assert.False(IsBenchNamespace(f.Namespace), $"{f.Path}: the library must not hold {f.Namespace}");
            if (project == "MegatronBridge.Benchmarks") Assert.True(IsBenchNamespace(f.Namespace), $"{f.Path}: {f.Namespace} outside MegatronBridge.Benchmarks");
        }
    }

    private static bool IsBenchNamespace(string? ns) =>
        ns is not null && (ns == "MegatronBridge.Benchmarks" || ns.StartsWith("MegatronBridge.Benchmarks.", StringComparison.Ordinal));

    [Fact]
    public void Checker_FlagsAnUpwardUsing_APeer_AFullyQualifiedUpwardReference_AndACrossFamilyReference()
    {
        Assert.Single(Violations("a.cs", "MegatronBridge.Conversion", "using MegatronBridge.Jobs;\nclass A {}"));
        Assert.Single(Violations("b.cs", "MegatronBridge.Reference", "using MegatronBridge.Preprocessing;"));
        Assert.Single(Violations("c.cs", "MegatronBridge.Tensors", "var x = MegatronBridge.Formats.Safetensors.SafetensorsFile.Open(p);"));
        Assert.Single(Violations("d.cs", "MegatronBridge.Models.Qwen35", "using MegatronBridge.Models.Qwen3VL;"));
        Assert.Single(Violations("e.cs", "MegatronBridge.Models.Shared", "using MegatronBridge.Models.Qwen35;"));
        Assert.Single(Violations("e2.cs", "MegatronBridge.Models.Blocks", "using MegatronBridge.Models.Shared;"));
        Assert.Single(Violations("e3.cs", "MegatronBridge.Models.Blocks", "using MegatronBridge.Models.Qwen3VL;"));

        Assert.Empty(Violations("f.cs", "MegatronBridge.Jobs", "using MegatronBridge.Conversion;\nusing MegatronBridge.Reference;"));
        Assert.Empty(Violations("g.cs", "MegatronBridge.Models.Qwen3VL", "using MegatronBridge.Models.Shared;\nusing MegatronBridge.Models;"));
        Assert.Empty(Violations("g2.cs", "MegatronBridge.Models.Qwen35", "using MegatronBridge.Models.Blocks;"));
        Assert.Empty(Violations("g3.cs", "MegatronBridge.Models.Shared", "using MegatronBridge.Models.Blocks;"));
        // A manifest resource name is not a namespace.
        Assert.Empty(Violations("h.cs", "MegatronBridge.Benchmarks", "const string R = \"MegatronBridge.RealConfigs.\";"));
    }

    private static IEnumerable<string> Violations(string path, string ns, string text)
    {
        string layer = Layer(ns);
        int rank = Rank(layer);
        foreach (Match m in Reference.Matches(text))
        {
            string[] parts = m.Groups[1].Value.TrimStart('.').Split('.');
            string target = parts[0];
            int targetRank = Rank(target);
            if (targetRank < 0 || target == layer)
            {
                if (target == layer && layer == "Models") foreach (var v in FamilyViolation(path, ns, parts)) yield return v;
                continue;
            }
            if (targetRank >= rank)
                yield return $"{path}: {ns} uses MegatronBridge.{target} ({(targetRank == rank ? "a peer" : "a higher layer")})";
        }
    }

    /// <summary>A fully-qualified reference from one Models sub-namespace into another family.</summary>
    private static IEnumerable<string> FamilyViolation(string path, string ns, string[] parts)
    {
        string? from = Family(ns);
        string? to = parts.Length > 1 ? parts[1] : null;
        if (from is null || to is null || to == from || !IsFamilyName(to)) yield break;
        if (to == "Blocks" && from != "Blocks") yield break;
        if (to == "Shared" && from != "Shared" && from != "Blocks") yield break;
        yield return $"{path}: {ns} uses MegatronBridge.Models.{to} (families use only the Models root, Models.Shared and Models.Blocks; Shared uses only Blocks; Blocks uses neither)";
    }

    private static string? Family(string ns)
    {
        var parts = ns.Split('.');
        return parts.Length > 2 && parts[1] == "Models" ? parts[2] : null;
    }

    // Sub-namespaces of Models (one folder each: the families, Shared and Blocks); a type in the Models root
    // (MegatronBridge.Models.BridgeRegistry) is not one.
    private static bool IsFamilyName(string name) => FamilyFolders.Value.Contains(name);

    private static readonly Lazy<HashSet<string>> FamilyFolders = new(() =>
        Directory.GetDirectories(Path.Combine(SourceRoot(), "MegatronBridge", "Models")).Select(Path.GetFileName).OfType<string>().ToHashSet());

    private static string Layer(string ns)
    {
        var parts = ns.Split('.');
        return parts.Length > 1 ? parts[1] : "";
    }

    private static int Rank(string layer) => Array.FindIndex(Order, g => g.Contains(layer));

    private static string SourceRoot() => Path.GetFullPath(Path.Combine(TestPaths.Fixture(""), "..", "..", "src"));

    private static List<(string Path, string Namespace, string Text)> SourceFiles()
    {
        var list = new List<(string, string, string)>();
        foreach (var path in Directory.EnumerateFiles(SourceRoot(), "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(SourceRoot(), path);
            if (rel.Split(Path.DirectorySeparatorChar).Any(p => p is "obj" or "bin")) continue;
            string text = File.ReadAllText(path);
            var m = NamespaceLine.Match(text);
            Assert.True(m.Success, $"{rel}: no file-scoped namespace line");
            list.Add((rel, m.Groups[1].Value, text));
        }
        return list;
    }
}
