using System.Runtime.ExceptionServices;
using MegatronBridge.IO;

namespace MegatronBridge.Tensors;

/// <summary>
/// Runs independent writers (rank files, regions of a data file) a few at a time. A failure surfaces as the writer's
/// own exception (an IOException for a full disk, an InvalidInputException naming the tensor), not as an
/// AggregateException, so callers and the CLI report it like a sequential failure.
/// </summary>
internal static class BoundedParallel
{
    /// <summary>The default number of writers at once: the cores, at most 4 (more only adds seeks on one disk).</summary>
    public static int DefaultDegree => Math.Clamp(Environment.ProcessorCount, 1, 4);

    public static void ForEach<T>(IReadOnlyList<T> items, int degree, Action<T> body)
    {
        if (items.Count == 0) return;
        if (degree <= 1 || items.Count == 1)
        {
            foreach (var item in items) body(item);
            return;
        }
        try
        {
            Parallel.ForEach(items, new ParallelOptions { MaxDegreeOfParallelism = degree }, body);
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            throw; // unreachable
        }
    }

    /// <summary>
    /// Consecutive runs of <paramref name="items"/> holding about equal bytes, at most <paramref name="count"/>
    /// (a run closes once it holds its share): work for that many writers that each stay sequential.
    /// </summary>
    public static List<List<T>> ContiguousRuns<T>(IReadOnlyList<T> items, Func<T, long> bytes, int count)
    {
        long total = items.Sum(bytes);
        long target = Math.Max(1, (total + count - 1) / Math.Max(1, count));
        var runs = new List<List<T>> { new() };
        long filled = 0;
        foreach (var item in items)
        {
            if (filled >= target && runs.Count < count)
            {
                runs.Add(new List<T>());
                filled = 0;
            }
            runs[^1].Add(item);
            filled += bytes(item);
        }
        return runs;
    }
}
