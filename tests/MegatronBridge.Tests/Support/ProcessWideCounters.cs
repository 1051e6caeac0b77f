using Xunit;

namespace MegatronBridge.Tests.Support;

/// <summary>
/// Tests that read a process-wide counter (the reference forward's <c>WeightReader.BytesRead</c>) run in this
/// collection, which xunit runs alone: other test classes run in parallel in the same process and would add their
/// reads to the count.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideCounters
{
    public const string Name = "process-wide counters";
}
