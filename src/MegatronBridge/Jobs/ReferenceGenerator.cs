using MegatronBridge.Config;
using MegatronBridge.IO;
using MegatronBridge.Reference;

namespace MegatronBridge.Jobs;

/// <summary>
/// The <c>generate</c> job: greedy decoding with the CPU reference forward, from an HF folder or a Megatron
/// checkpoint (whose config.json comes from the HF folder); the prompt is text (through the model's tokenizer) or
/// token ids, optionally with images (through the model's image processor, one image placeholder per image expanded
/// to its patch count) or already processed pixel values.
/// </summary>
internal static class ReferenceGenerator
{
    public static GenerateResult Generate(GenerateRequest request)
    {
        if (request.MaxNewTokens < 0) throw new InvalidInputException($"--max-new-tokens must not be negative, got {request.MaxNewTokens}");
        bool megatron = MegatronCheckpointWeights.IsMegatronCheckpoint(request.Model);
        if (megatron && request.HfModel is null)
            throw new InvalidInputException($"{request.Model} is a Megatron checkpoint: give --hf-model (the HF folder with its config.json)");
        string configFolder = megatron ? request.HfModel! : request.Model;
        var hfConfig = HfConfig.LoadFromFolder(configFolder);

        var assetFolders = new[] { request.Processor, request.HfModel, request.Model }.OfType<string>().ToList();
        var (ids, image, tokenizer) = PromptInputs.Prepare(
            new PromptInputs.Request(request.Prompt, request.InputIds, request.Images, request.PixelValues, request.ImageGridThw, assetFolders), hfConfig);

        using var reference = megatron
            ? MegatronReferenceModel.Load(request.Model, configFolder, hfConfig)
            : ReferenceModel.LoadHf(request.Model);
        if (image is not null && megatron && MegatronReferenceModel.IsLanguageOnly(reference))
            throw MegatronReferenceModel.ImagesRefused(request.Model, configFolder);
        var generated = Greedy.Generate(reference, ids, request.MaxNewTokens, image);
        // Models pad their vocabulary past the tokenizer's; like the tokenizers library, decoding skips ids it lacks.
        return new GenerateResult(ids, generated, tokenizer?.Decode(generated.Where(id => tokenizer.IdToToken(id) is not null)));
    }
}
