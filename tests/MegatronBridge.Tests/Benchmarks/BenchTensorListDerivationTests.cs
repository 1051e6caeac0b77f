using System.Text.Json.Nodes;
using MegatronBridge.Benchmarks;
using Xunit;

namespace MegatronBridge.Tests.Benchmarks;

/// <summary>TEMPORARY: the list derived from the mapping equals the hand-written one it replaces.</summary>
public class BenchTensorListDerivationTests
{
    public static IEnumerable<object[]> Cases() =>
        from preset in BenchPreset.All
        from layers in new int?[] { null, 1, 2, 5 }
        from mtp in new[] { true, false }
        select new object[] { preset.Name, layers ?? 0, mtp };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Derived_EqualsHandWritten(string preset, int layers, bool mtp)
    {
        var config = BenchPreset.Find(preset).LoadConfig();
        if (layers > 0) config = BenchPreset.CutLayers(config, layers);
        if (!mtp) ((JsonObject)config["text_config"]!)["mtp_num_hidden_layers"] = 0L;
        var old = HandWrittenBenchTensorList.FromConfig(config);
        var derived = BenchTensorList.FromConfig(config);
        static string Row(MegatronBridge.Tensors.TensorMeta t) => $"{t.Name} {t.DType} {t.Shape}";
        Assert.Equal(old.Count, derived.Count);
        Assert.Equal(old.Select(Row).Order(StringComparer.Ordinal), derived.Select(Row).Order(StringComparer.Ordinal));
        Console.WriteLine($"{preset} layers={layers} mtp={mtp}: {old.Count} tensors, same order: {old.Select(Row).SequenceEqual(derived.Select(Row))}");
    }
}
