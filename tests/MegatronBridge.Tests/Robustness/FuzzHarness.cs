using System.Diagnostics;
using Xunit;
using MegatronBridge.IO;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// Runs a parser on mutated inputs for a bounded time and fails on anything but the expected refusal: an
/// <see cref="InvalidInputException"/> with a message. Index, null-reference, overflow or
/// cast exceptions, and inputs that take longer than <see cref="HangLimit"/>, are crashes; the failing input is saved
/// under the temp folder so it can be added to Corpus/ as a regression case.
/// </summary>
internal static class FuzzHarness
{
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(10);

    /// <summary>Set MEGATRON_BRIDGE_FUZZ_SECONDS=N for a longer local run (N seconds per target, 16 seeds); CI uses 2 s.</summary>
    public static readonly int? LongRunSeconds =
        int.TryParse(Environment.GetEnvironmentVariable("MEGATRON_BRIDGE_FUZZ_SECONDS"), out var s) && s > 0 ? s : null;

    /// <summary>Time per fuzz target.</summary>
    public static TimeSpan Budget => TimeSpan.FromSeconds(LongRunSeconds ?? 2);

    public static bool IsExpectedRefusal(Exception e) =>
        e is InvalidInputException && !string.IsNullOrWhiteSpace(e.Message);

    /// <summary>Runs <paramref name="target"/> on one input; returns a failure description, or null when it behaved.</summary>
    public static string? Check(Action<byte[]> target, byte[] input)
    {
        var task = Task.Run(() => target(input));
        try
        {
            if (!task.Wait(HangLimit)) return $"no answer within {HangLimit.TotalSeconds} s (hang?)";
            return null;
        }
        catch (AggregateException wrapped) when (wrapped.InnerException is { } e)
        {
            return IsExpectedRefusal(e) ? null : $"{e.GetType().Name}: {e.Message}{Environment.NewLine}{e.StackTrace}";
        }
    }

    /// <summary>Mutates <paramref name="seeds"/> for up to <paramref name="budget"/> or <paramref name="maxInputs"/> inputs per seed.</summary>
    public static int Run(string name, IReadOnlyList<byte[]> seeds, Action<byte[]> target, int[] rngSeeds, TimeSpan budget, int maxInputs = 1_000_000)
    {
        foreach (var seed in seeds) Assert.Null(Check(target, seed)); // the seeds themselves must parse
        var clock = Stopwatch.StartNew();
        int inputs = 0;
        foreach (var rngSeed in rngSeeds)
        {
            var mutator = new Mutator(rngSeed, seeds);
            var perSeed = TimeSpan.FromTicks(budget.Ticks / rngSeeds.Length);
            var seedClock = Stopwatch.StartNew();
            for (int i = 0; i < maxInputs && seedClock.Elapsed < perSeed; i++, inputs++)
            {
                var input = mutator.Next();
                var failure = Check(target, input);
                if (failure is null) continue;
                var saved = Path.Combine(Path.GetTempPath(), $"fuzz-{name}-seed{rngSeed}-{i}.bin");
                File.WriteAllBytes(saved, input);
                Assert.Fail($"{name}: input {i} of seed {rngSeed} crashed the parser (saved as {saved}): {failure}");
            }
        }
        Assert.True(clock.Elapsed < budget + HangLimit + TimeSpan.FromSeconds(5), $"{name}: ran {clock.Elapsed}, over its budget");
        return inputs;
    }
}
