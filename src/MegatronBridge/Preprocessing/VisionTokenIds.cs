using MegatronBridge.Config;
using MegatronBridge.IO;

namespace MegatronBridge.Preprocessing;

/// <summary>The special token ids that frame an image in the prompt, as the model's config.json names them.</summary>
internal sealed record VisionTokenIds(int ImageTokenId, int VisionStartTokenId, int VisionEndTokenId)
{
    /// <summary>Reads image_token_id, vision_start_token_id and vision_end_token_id; each must be present.</summary>
    public static VisionTokenIds FromConfig(HfConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        int Require(int? value, string field) => value is >= 0 and var v
            ? v
            : throw new InvalidInputException($"{config.Path}: {field} is missing or negative; it is needed to place image tokens");
        return new VisionTokenIds(
            Require(config.ImageTokenId, "image_token_id"),
            Require(config.VisionStartTokenId, "vision_start_token_id"),
            Require(config.VisionEndTokenId, "vision_end_token_id"));
    }
}
