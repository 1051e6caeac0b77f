namespace MegatronBridge.Preprocessing;

/// <summary>
/// A token of tokenizer.json's <c>added_tokens</c>: matched literally in the text before BPE runs, never split.
/// LStrip/RStrip absorb the whitespace next to it; Special marks tokens that decoding can skip.
/// </summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false, bool SingleWord = false);
