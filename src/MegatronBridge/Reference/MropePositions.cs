using MegatronBridge.IO;

namespace MegatronBridge.Reference;

/// <summary>
/// The 3-row (T, H, W) decoder position ids (transformers' get_rope_index): text runs count on from the current
/// position in all three rows; each run of image tokens takes the next image grid and gets t/h/w indices of the
/// merged grid offset by the current position, after which the position advances by max(h, w) / merge.
/// </summary>
internal static class MropePositions
{
    public static int[][] Compute(IReadOnlyList<int> inputIds, int? imageTokenId, IReadOnlyList<ImageGrid> grids, int mergeSize)
    {
        int n = inputIds.Count;
        var pos = new[] { new int[n], new int[n], new int[n] };
        int current = 0, gridIndex = 0, i = 0;
        while (i < n)
        {
            // Image tokens past the last grid (e.g. generated ones) are ordinary text, as in generation.
            if (imageTokenId is null || inputIds[i] != imageTokenId.Value || gridIndex >= grids.Count)
            {
                pos[0][i] = pos[1][i] = pos[2][i] = current;
                current++;
                i++;
                continue;
            }
            int runEnd = i;
            while (runEnd < n && inputIds[runEnd] == imageTokenId.Value) runEnd++;
            var g = grids[gridIndex++];
            int gh = g.H / mergeSize, gw = g.W / mergeSize;
            int count = g.T * gh * gw;
            if (runEnd - i != count)
                throw new InvalidInputException($"a run of {runEnd - i} image tokens (at position {i}) does not match image grid [{g.T}, {g.H}, {g.W}], which gives {count} tokens");
            int k = i;
            for (int t = 0; t < g.T; t++)
                for (int h = 0; h < gh; h++)
                    for (int w = 0; w < gw; w++, k++)
                    {
                        pos[0][k] = t + current;
                        pos[1][k] = h + current;
                        pos[2][k] = w + current;
                    }
            current += Math.Max(g.H, g.W) / mergeSize;
            i = runEnd;
        }
        if (grids.Count > 0 && gridIndex != grids.Count)
            throw new InvalidInputException($"{grids.Count} image grid(s) given but the input ids hold {gridIndex} image-token run(s)");
        return pos;
    }
}
