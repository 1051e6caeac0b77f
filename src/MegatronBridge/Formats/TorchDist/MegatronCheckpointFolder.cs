using System.Globalization;
using System.Text.RegularExpressions;
using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.IO;
using MegatronBridge.Tensors;

namespace MegatronBridge.Formats.TorchDist;

/// <summary>Where one saved iteration lives: its folder, its iteration (from the tracker or folder name) and whether it is a release.</summary>
internal sealed record MegatronIterationFolder(string Folder, long? Iteration, bool IsRelease);

/// <summary>
/// The Megatron-LM layout around a checkpoint: <c>&lt;root&gt;/latest_checkpointed_iteration.txt</c> (digits or
/// "release", no newline) and the folders <c>iter_{:07d}</c> / <c>release</c>.
/// </summary>
internal static partial class MegatronCheckpointFolder
{
    public const string TrackerFileName = "latest_checkpointed_iteration.txt";
    public const string ReleaseFolderName = "release";

    public static string IterationFolderName(long? iteration) =>
        iteration is long i
            ? (i >= 0 ? "iter_" + i.ToString("D7", CultureInfo.InvariantCulture) : throw new ArgumentOutOfRangeException(nameof(iteration), "negative iteration"))
            : ReleaseFolderName;

    /// <summary>Creates <c>root/iter_XXXXXXX</c> (or <c>root/release</c>) and returns its path.</summary>
    public static string CreateIterationFolder(string root, long? iteration)
    {
        var folder = Path.Combine(root, IterationFolderName(iteration));
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>Writes the tracker; do this last, so an interrupted conversion never looks complete.</summary>
    public static void WriteTracker(string root, long? iteration)
    {
        Directory.CreateDirectory(root);
        var text = iteration is long i ? i.ToString(CultureInfo.InvariantCulture) : ReleaseFolderName;
        File.WriteAllText(Path.Combine(root, TrackerFileName), text);
    }

    public const string TrainStateFileName = "train_state.pt";
    public const string LatestTrainStateFileName = "latest_train_state.pt";

    /// <summary>
    /// Megatron-Bridge's <c>train_state.pt</c> in the iteration folder and its byte copy <c>latest_train_state.pt</c>
    /// in the root (docs/formats.md, torch_dist checkpoints): a dict of 0-dim tensors, all zero/False except
    /// <paramref name="step"/>. Bridge needs it to find an iteration-0 checkpoint (its tracker reader rejects 0).
    /// </summary>
    public static void WriteTrainState(string root, string iterationFolder, long step)
    {
        static TorchTensorValue Scalar(DType dtype, byte[] bytes) => TorchTensorValue.FromBytes(dtype, Array.Empty<long>(), bytes);
        var state = new PyDict()
            .Add("step", Scalar(DType.I64, BitConverter.GetBytes(step)))
            .Add("consumed_train_samples", Scalar(DType.I64, new byte[8]))
            .Add("skipped_train_samples", Scalar(DType.I64, new byte[8]))
            .Add("consumed_valid_samples", Scalar(DType.I64, new byte[8]))
            .Add("floating_point_operations_so_far", Scalar(DType.F32, new byte[4]))
            .Add("do_train", Scalar(DType.Bool, new byte[1]))
            .Add("do_valid", Scalar(DType.Bool, new byte[1]))
            .Add("do_test", Scalar(DType.Bool, new byte[1]));
        var path = Path.Combine(iterationFolder, TrainStateFileName);
        TorchSave.WriteFile(path, state);
        File.Copy(path, Path.Combine(root, LatestTrainStateFileName), overwrite: true);
    }

    [GeneratedRegex(@"^iter_(\d{7,})$")]
    private static partial Regex IterationFolderPattern();

    /// <summary>The number of an <c>iter_*</c> folder; digits past the 64-bit range (or in other scripts) are refused, naming the folder.</summary>
    private static long Iteration(string digits, string folder) =>
        long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n)
            ? n
            : throw new InvalidInputException($"{folder}: iteration number {digits} is out of range");

    /// <summary>
    /// Finds the iteration folder for <paramref name="path"/>: a root with a tracker (any iteration or "release"),
    /// an iteration folder itself, or a root without tracker holding iter_* folders (the largest is taken).
    /// </summary>
    public static MegatronIterationFolder Resolve(string path)
    {
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"{path}: no such checkpoint folder");
        var full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        var tracker = Path.Combine(full, TrackerFileName);
        if (File.Exists(tracker))
        {
            MegatronBridge.IO.InputFile.EnsureRegular(tracker);
            var text = File.ReadAllText(tracker).Trim();
            long? iteration;
            if (text == ReleaseFolderName) iteration = null;
            else if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) iteration = n;
            else throw new InvalidInputException($"{tracker}: expected an iteration number or 'release', found '{text}'");
            var folder = Path.Combine(full, IterationFolderName(iteration));
            if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{tracker} names '{text}', but {folder} does not exist");
            return new MegatronIterationFolder(folder, iteration, iteration == null);
        }

        var name = Path.GetFileName(full);
        var m = IterationFolderPattern().Match(name);
        if (m.Success) return new MegatronIterationFolder(full, Iteration(m.Groups[1].Value, full), false);
        if (name == ReleaseFolderName) return new MegatronIterationFolder(full, null, true);

        var iterations = Directory.GetDirectories(full)
            .Select(d => IterationFolderPattern().Match(Path.GetFileName(d)))
            .Where(x => x.Success)
            .Select(x => Iteration(x.Groups[1].Value, Path.Combine(full, x.Value)))
            .ToList();
        if (iterations.Count > 0)
        {
            var latest = iterations.Max();
            return new MegatronIterationFolder(Path.Combine(full, IterationFolderName(latest)), latest, false);
        }
        if (Directory.Exists(Path.Combine(full, ReleaseFolderName))) return new MegatronIterationFolder(Path.Combine(full, ReleaseFolderName), null, true);

        // A checkpoint folder with another name (e.g. a bare DCP folder) stands for itself.
        if (File.Exists(Path.Combine(full, TorchDistWriter.MetadataFileName)) || Directory.GetDirectories(full, "mp_rank_*").Length > 0)
            return new MegatronIterationFolder(full, null, false);
        throw new InvalidInputException($"{path}: no {TrackerFileName}, no iter_* or release folder, and no checkpoint files");
    }
}
