namespace MegatronBridge.Tests.Support;

/// <summary>Locates the data bundled in the repository (tests/fixtures, tests/golden) from the test binary.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> TestsRoot = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures");
            if (Directory.Exists(candidate)) return Path.Combine(dir.FullName, "tests");
            dir = dir.Parent;
        }
        throw new DirectoryNotFoundException("tests/fixtures not found above " + AppContext.BaseDirectory);
    });

    public static string Fixture(string name) => Path.Combine(TestsRoot.Value, "fixtures", name);
    public static string Golden(string name) => Path.Combine(TestsRoot.Value, "golden", name);

    /// <summary>The eight tiny model checkpoints written by transformers.</summary>
    public static readonly string[] ModelFixtures =
    {
        "qwen35-vl-dense-tiny", "qwen35-vl-moe-tiny", "qwen35-vl-moe-mixed-tiny", "qwen36-vl-moe-packed-tiny",
        "qwen35-text-dense-tied-tiny", "qwen35-text-moe-tiny", "qwen3-vl-dense-tiny", "qwen3-vl-moe-tiny",
    };

    public static IEnumerable<object[]> ModelFixtureData() => ModelFixtures.Select(f => new object[] { f });

    /// <summary>A fresh empty folder under the system temp directory, removed when disposed.</summary>
    public static TempDir NewTempDir() => new();
}

public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mbtest-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }
    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
