namespace MegatronBridge.Jobs;

/// <summary>What <see cref="ReferenceGenerator.Generate"/> runs (the <c>generate</c> command's options).</summary>
/// <param name="Model">Hugging Face folder or Megatron checkpoint (torch_dist or legacy).</param>
internal sealed record GenerateRequest(string Model)
{
    /// <summary>HF folder with config.json (required for a Megatron checkpoint), tokenizer and image processor files.</summary>
    public string? HfModel { get; init; }
    /// <summary>Folder with tokenizer.json / preprocessor_config.json when neither <see cref="HfModel"/> nor <see cref="Model"/> has them.</summary>
    public string? Processor { get; init; }
    /// <summary>Prompt text (needs tokenizer.json).</summary>
    public string? Prompt { get; init; }
    /// <summary>Prompt token ids, comma separated.</summary>
    public string? InputIds { get; init; }
    /// <summary>Image files, each taking one image placeholder of the prompt (or put before it).</summary>
    public IReadOnlyList<string> Images { get; init; } = Array.Empty<string>();
    /// <summary>Safetensors file with already processed pixel values.</summary>
    public string? PixelValues { get; init; }
    /// <summary>Patch grid "t,h,w" of each image of <see cref="PixelValues"/>.</summary>
    public IReadOnlyList<string> ImageGridThw { get; init; } = Array.Empty<string>();
    public int MaxNewTokens { get; init; } = 8;
}

/// <summary>What <see cref="ReferenceGenerator.Generate"/> produced.</summary>
/// <param name="PromptIds">The prompt ids the model saw (image placeholders expanded).</param>
/// <param name="Generated">The new token ids.</param>
/// <param name="Text">The new tokens' text, when a tokenizer was found.</param>
internal sealed record GenerateResult(int[] PromptIds, int[] Generated, string? Text);
