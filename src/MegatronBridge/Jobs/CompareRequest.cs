namespace MegatronBridge.Jobs;

/// <summary>What <see cref="ReferenceComparer.Compare"/> runs (the <c>compare</c> command's options).</summary>
/// <param name="HfModel">Hugging Face folder (config.json, weights).</param>
internal sealed record CompareRequest(string HfModel)
{
    /// <summary>A Megatron checkpoint of the same model (torch_dist or legacy); its forward is compared too.</summary>
    public string? MegatronPath { get; init; }
    /// <summary>Reference outputs; default &lt;hf-model&gt;/reference_outputs.safetensors.</summary>
    public string? ReferencePath { get; init; }
    /// <summary>Largest max-abs difference from the reference file that passes.</summary>
    public double Tolerance { get; init; } = 1e-3;
    /// <summary>Largest max-abs difference between the HF-layout and the Megatron-layout forward that passes.</summary>
    public double LayoutTolerance { get; init; } = 1e-5;
    /// <summary>Prompt ids (comma separated) for HF vs Megatron instead of a reference file.</summary>
    public string? InputIds { get; init; }
    /// <summary>Prompt text for HF vs Megatron instead of a reference file (needs tokenizer.json).</summary>
    public string? Prompt { get; init; }
    /// <summary>Images for the prompt (need preprocessor_config.json).</summary>
    public IReadOnlyList<string> Images { get; init; } = Array.Empty<string>();
    /// <summary>Folder with tokenizer.json / preprocessor_config.json when the HF folder lacks them.</summary>
    public string? Processor { get; init; }
}
