using MegatronBridge.Conversion;
using MegatronBridge.Models;
using MegatronBridge.Tensors;

namespace MegatronBridge.Jobs;

/// <summary>One Megatron parameter: the bytes the HF checkpoint maps to, against the bytes stored in the checkpoint.</summary>
/// <param name="Name">The Megatron in-memory parameter name (TP=1).</param>
/// <param name="HfSources">The HF tensors the mapping builds it from.</param>
/// <param name="ExpectedSha256">SHA-256 (hex) of the recipe output over the HF checkpoint.</param>
/// <param name="StoredSha256">SHA-256 (hex) of the tensor as stored in the Megatron checkpoint.</param>
/// <param name="FirstDifference">Byte offset of the first differing byte, when they differ.</param>
public sealed record TensorVerification(
    string Name,
    IReadOnlyList<string> HfSources,
    DType DType,
    TensorShape Shape,
    long Bytes,
    string ExpectedSha256,
    string StoredSha256,
    long? FirstDifference)
{
    public bool Matches => FirstDifference is null;
}

/// <summary>The outcome of <see cref="CheckpointVerifier.Verify"/>.</summary>
/// <param name="UnmappedKeys">Stored keys no parameter uses (optimizer state and the like); informative only.</param>
public sealed record VerificationResult(
    string HfModel,
    string MegatronFolder,
    string Architecture,
    string Bridge,
    IReadOnlyList<TensorVerification> Tensors,
    IReadOnlyList<string> UnmappedKeys)
{
    /// <summary>
    /// Every further stored copy of a verified tensor (a legacy checkpoint's replicas on other expert ranks and the last
    /// pipeline stage's embeddings), each compared byte for byte with the copy checked against the HF checkpoint.
    /// </summary>
    public IReadOnlyList<TensorVerification> Replicas { get; init; } = Array.Empty<TensorVerification>();
    /// <summary>
    /// The non-tensor state compared with what import writes: <c>_extra_state</c> entries and the common state
    /// (<see cref="StoredStateCheck"/>).
    /// </summary>
    public IReadOnlyList<TensorVerification> States { get; init; } = Array.Empty<TensorVerification>();
    /// <summary>
    /// The MTP block config.json declares but the checkpoint does not store (checked as a model built without MTP):
    /// the HF <c>mtp.*</c> tensors were not compared. Null when the checkpoint has MTP or none is declared.
    /// </summary>
    public MtpOmission? MtpLeftOut { get; init; }
    /// <summary>Stored state left unchecked because import did not write it (a checkpoint trained by Megatron), each with why.</summary>
    public IReadOnlyList<string> NotChecked { get; init; } = Array.Empty<string>();
    /// <summary>
    /// Stored tensor instances checked: every torch_dist tensor key the parameters are stored under, or every legacy
    /// rank-file tensor including replicas (null: one per checked tensor plus every replica). The count inspect and
    /// import report as stored tensors.
    /// </summary>
    public int? StoredTensorCount { get; init; }
    public int StoredTensors => StoredTensorCount ?? Tensors.Count + Replicas.Count;
    /// <summary>Stored copies checked: every stored tensor, and every extra state and common state entry.</summary>
    public int StoredCopies => StoredTensors + States.Count;
    public IReadOnlyList<TensorVerification> Differences => Tensors.Concat(Replicas).Concat(States).Where(t => !t.Matches).ToList();
    public bool Matches => Tensors.All(t => t.Matches) && Replicas.All(t => t.Matches) && States.All(t => t.Matches);
    public long Bytes => Tensors.Sum(t => t.Bytes);
}
