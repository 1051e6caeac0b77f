using MegatronBridge.Formats.Pickle;
using MegatronBridge.Formats.Safetensors;
using MegatronBridge.Formats.TorchDist;
using MegatronBridge.Formats.TorchZip;
using MegatronBridge.IO;
using MegatronBridge.Tensors;
using MegatronBridge.Tests.Support;
using Xunit;

namespace MegatronBridge.Tests.Formats.TorchDist;

public class TorchDistCheckpointTests
{
    [Fact]
    public void Trained_tp2_checkpoint_reassembles_the_expected_full_tensors()
    {
        var root = TestPaths.Golden("golden_trained_tp2");
        using var checkpoint = TorchDistCheckpoint.Open(root);
        using var expected = SafetensorsFile.Open(Path.Combine(root, "expected_full_tensors.safetensors"));

        Assert.EndsWith("iter_0001000", checkpoint.Folder);
        Assert.True(checkpoint.IsTorchDist);
        Assert.Equal(1000, checkpoint.FolderIteration);
        Assert.Equal(1000, checkpoint.Iteration);
        Assert.True(checkpoint.CommonState!.TryGet("checkpoint_version", out var version));
        Assert.Equal(3.0, version);

        Assert.Equal(5, expected.Entries.Count);
        foreach (var entry in expected.Entries)
        {
            Assert.Equal(entry.Meta, checkpoint.Get(entry.Meta.Name));
            Assert.Equal(ReadAll(expected, entry.Meta.Name), checkpoint.ReadAll(entry.Meta.Name));
        }
        // The optimizer state key is there too, for a caller to skip.
        Assert.Contains(checkpoint.Tensors, t => t.Name.StartsWith("optimizer.", StringComparison.Ordinal));
    }

    private static byte[] ReadAll(SafetensorsFile file, string name)
    {
        var entry = file.ByName[name];
        var data = new byte[entry.Meta.ByteLength];
        file.Read(entry, 0, data);
        return data;
    }

    [Fact]
    public void Partial_reads_across_chunk_boundaries_equal_slices_of_the_full_tensor()
    {
        var root = TestPaths.Golden("golden_trained_tp2");
        using var checkpoint = TorchDistCheckpoint.Open(Path.Combine(root, "iter_0001000"));
        using var expected = SafetensorsFile.Open(Path.Combine(root, "expected_full_tensors.safetensors"));
        foreach (var name in new[] { "decoder.layers.3.self_attention.linear_proj.weight", "embedding.word_embeddings.weight" })
        {
            var full = ReadAll(expected, name);
            for (int start = 0; start < full.Length; start += 3)
            {
                for (int length = 1; start + length <= full.Length; length += 7)
                {
                    var part = new byte[length];
                    checkpoint.Read(name, start, part);
                    Assert.Equal(full.AsSpan(start, length).ToArray(), part);
                }
            }
        }
    }

    [Theory]
    [InlineData("golden_torch_dist")]
    [InlineData("golden_mcore_features")]
    public void Golden_checkpoints_read_back_chunk_by_chunk(string folder)
    {
        var dir = TestPaths.Golden(folder);
        using var checkpoint = TorchDistCheckpoint.Open(dir);
        Assert.True(checkpoint.IsTorchDist);
        Assert.Equal(checkpoint.Metadata.StorageData.Count, checkpoint.ValidateAllItems());
        var dataPath = Path.Combine(dir, "__0_0.distcp");
        using var file = File.OpenHandle(dataPath);
        foreach (var entry in checkpoint.TensorEntries)
        {
            var full = checkpoint.ReadAll(entry.Fqn);
            var strides = entry.Shape.ContiguousStrides();
            var es = entry.DType.Size();
            foreach (var chunk in entry.Chunks)
            {
                // The chunk as stored (independently located via the metadata) must equal the same region of the assembled tensor.
                var item = checkpoint.Metadata.StorageData.Single(s => s.Key.Fqn == entry.Fqn && s.Key.Offset!.SequenceEqual(chunk.Offsets));
                var stored = ((TorchTensorRef)TorchLoad.Load(TorchZipArchive.Open(file, dataPath, item.Info.Offset, item.Info.Length))!).ReadAll();
                var chunkStrides = new TensorShape(chunk.Sizes).ContiguousStrides();
                for (long i = 0; i < chunk.NumElements; i++)
                {
                    long g = 0, rem = i;
                    for (int d = 0; d < chunk.Sizes.Length; d++)
                    {
                        g += (chunk.Offsets[d] + rem / chunkStrides[d]) * strides[d];
                        rem %= chunkStrides[d];
                    }
                    Assert.Equal(stored.AsSpan((int)(i * es), es).ToArray(), full.AsSpan((int)(g * es), es).ToArray());
                }
            }
        }
    }

    [Fact]
    public void Mcore_features_objects_and_common_state_unpickle()
    {
        using var checkpoint = TorchDistCheckpoint.Open(TestPaths.Golden("golden_mcore_features"));
        Assert.Contains("output_layer._extra_state/shard_0_1", checkpoint.ObjectKeys);
        Assert.Equal(new List<object?> { null }, checkpoint.GetObject("output_layer._extra_state/shard_0_1"));
        var extra = Assert.IsType<List<object?>>(checkpoint.GetObject("decoder.layers.0.self_attention.in_proj._extra_state/shard_0_1"));
        var empty = Assert.IsType<TorchTensorRef>(Assert.Single(extra));
        Assert.Equal(DType.U8, empty.DType);
        Assert.Equal(new long[] { 0 }, empty.Shape);
        var many = Assert.IsType<List<object?>>(Assert.IsType<List<object?>>(checkpoint.GetObject("many_tensors_obj/shard_0_1"))[0]);
        Assert.Equal(5, many.Count);
        Assert.Equal(0L, checkpoint.Iteration);
        Assert.True(checkpoint.CommonState!.TryGet("content_metadata", out var cm));
        Assert.True(Assert.IsType<PyDict>(cm).TryGet("chained_optim_avoid_prefix", out var flag) && (bool)flag!);
    }

    [Fact]
    public void Written_checkpoint_reads_back_the_data_put_in()
    {
        using var temp = TestPaths.NewTempDir();
        var folder = MegatronCheckpointFolder.CreateIterationFolder(temp.Path, 0);
        var (_, a) = TensorFactory.Iota("a", 0, 2, 3, 4);
        var writer = new TorchDistWriter(folder);
        // (2, 3, 4) int32 split on the last axis into 4 + on axis 0 into 2: eight chunks written in odd order.
        var chunks = new List<TorchDistChunk>();
        foreach (var l in new[] { 1, 0 })
        {
            foreach (var c in new[] { 3, 1, 0, 2 })
            {
                var bytes = new byte[3 * 4];
                for (int r = 0; r < 3; r++) a.AsSpan((l * 12 + r * 4 + c) * 4, 4).CopyTo(bytes.AsSpan(r * 4));
                chunks.Add(new TorchDistChunk(new long[] { l, 0, c }, new long[] { 1, 3, 1 }, s => s.Write(0, bytes)));
            }
        }
        writer.AddTensor("stacked", DType.I32, new long[] { 2, 3, 4 }, chunks);
        writer.AddObject("x._extra_state/shard_0_1", new object?[] { TorchDistWriter.EmptyUInt8Tensor() });
        writer.AddObject(TorchDistCheckpoint.CommonStateKey, new object?[] { new PyDict().Add("checkpoint_version", 3.0).Add("iteration", 0L) });
        writer.Write();
        MegatronCheckpointFolder.WriteTracker(temp.Path, 0);

        Assert.Equal("0", File.ReadAllText(temp.Sub(MegatronCheckpointFolder.TrackerFileName)));
        using var back = TorchDistCheckpoint.Open(temp.Path);
        Assert.Equal(a, back.ReadAll("stacked"));
        Assert.Equal(0L, back.Iteration);
        Assert.Equal(temp.Sub("iter_0000000"), back.Folder);
    }

    [Fact]
    public void Storage_file_names_with_paths_are_rejected()
    {
        using var temp = TestPaths.NewTempDir();
        var writer = new TorchDistWriter(temp.Path);
        writer.AddTensor("t", DType.U8, new long[] { 2 }, s => s.Write(0, new byte[] { 1, 2 }));
        var md = writer.Write();
        md.StorageData[0] = md.StorageData[0] with { Info = md.StorageData[0].Info with { RelativePath = "../__0_0.distcp" } };
        File.WriteAllBytes(temp.Sub(".metadata"), DcpMetadataPickle.Serialize(md));
        var e = Assert.Throws<InvalidInputException>(() => TorchDistCheckpoint.Open(temp.Path));
        Assert.Contains("not a plain file name", e.Message);
    }

    [Fact]
    public void Items_past_the_end_of_the_file_and_wrong_chunk_shapes_are_rejected()
    {
        using var temp = TestPaths.NewTempDir();
        var writer = new TorchDistWriter(temp.Path);
        writer.AddTensor("t", DType.U8, new long[] { 2 }, s => s.Write(0, new byte[] { 1, 2 }));
        var md = writer.Write();
        var item = md.StorageData[0];
        md.StorageData[0] = item with { Info = item.Info with { Length = item.Info.Length + 10 } };
        File.WriteAllBytes(temp.Sub(".metadata"), DcpMetadataPickle.Serialize(md));
        Assert.Contains("runs past the end", Assert.Throws<InvalidInputException>(() => TorchDistCheckpoint.Open(temp.Path)).Message);

        md.StorageData[0] = item;
        md.Entries[0] = new DcpTensorEntry("t", DType.I16, new long[] { 1 }, new[] { new DcpChunk(new long[] { 0 }, new long[] { 1 }) });
        md.StorageData[0] = item with { Key = new DcpStorageKey("t", new long[] { 0 }, null) };
        File.WriteAllBytes(temp.Sub(".metadata"), DcpMetadataPickle.Serialize(md));
        using var checkpoint = TorchDistCheckpoint.Open(temp.Path);
        var e = Assert.Throws<InvalidInputException>(() => checkpoint.ReadAll("t"));
        Assert.Contains("uint8", e.Message);
        Assert.Contains("int16", e.Message);
    }

    [Fact]
    public void Tracker_and_folder_resolution()
    {
        using var temp = TestPaths.NewTempDir();
        MegatronCheckpointFolder.CreateIterationFolder(temp.Path, null);
        MegatronCheckpointFolder.WriteTracker(temp.Path, null);
        var release = MegatronCheckpointFolder.Resolve(temp.Path);
        Assert.True(release.IsRelease);
        Assert.Equal(temp.Sub("release"), release.Folder);

        var iter = MegatronCheckpointFolder.CreateIterationFolder(temp.Path, 1234567);
        Assert.Equal("iter_1234567", Path.GetFileName(iter));
        var direct = MegatronCheckpointFolder.Resolve(iter);
        Assert.Equal((1234567L, false), (direct.Iteration!.Value, direct.IsRelease));

        File.WriteAllText(temp.Sub(MegatronCheckpointFolder.TrackerFileName), "12\n");
        var e = Assert.Throws<DirectoryNotFoundException>(() => MegatronCheckpointFolder.Resolve(temp.Path));
        Assert.Contains("iter_0000012", e.Message);
        File.WriteAllText(temp.Sub(MegatronCheckpointFolder.TrackerFileName), "latest");
        Assert.Throws<InvalidInputException>(() => MegatronCheckpointFolder.Resolve(temp.Path));
    }
}

public class PlainDcpAndScaleTests
{
    [Fact]
    public void Plain_torch_dcp_folder_reads_tensors_and_objects()
    {
        using var checkpoint = TorchDistCheckpoint.Open(TestPaths.Golden("golden_dcp"));
        Assert.False(checkpoint.IsTorchDist);
        Assert.Equal(new TensorShape(3, 4), checkpoint.Get("w").Shape);
        Assert.Equal(DType.BF16, checkpoint.Get("w").DType);
        // w = torch.arange(12, dtype=bfloat16).reshape(3, 4); v = torch.arange(5); obj.a = 1
        Assert.Equal(TensorFactory.BFloat16(Enumerable.Range(0, 12).Select(i => (float)i).ToArray()), checkpoint.ReadAll("w"));
        Assert.Equal(Enumerable.Range(0, 5).SelectMany(i => BitConverter.GetBytes((long)i)).ToArray(), checkpoint.ReadAll("v"));
        Assert.Equal(1L, checkpoint.GetObject("obj.a"));
        Assert.Null(checkpoint.CommonState);
    }

    [Fact]
    public void Thousands_of_entries_write_and_read_back()
    {
        // Enough keys to need two 64 KiB pickle frames and dict batches of 1000 in .metadata.
        using var temp = TestPaths.NewTempDir();
        var writer = new TorchDistWriter(temp.Path) { SaveId = "fixed" };
        for (int i = 0; i < 1100; i++)
        {
            var (_, data) = TensorFactory.Iota($"t{i}", i, 2);
            writer.AddTensor($"decoder.layers.{i}.self_attention.linear_qkv.weight", DType.I32, new long[] { 2 }, s => s.Write(0, data));
            if (i % 2 == 0) writer.AddObject($"decoder.layers.{i}.self_attention.linear_qkv._extra_state/shard_0_1", new object?[] { TorchDistWriter.EmptyUInt8Tensor() });
        }
        var written = writer.Write();
        Assert.True(new FileInfo(temp.Sub(".metadata")).Length > 65536);

        using var back = TorchDistCheckpoint.Open(temp.Path);
        Assert.Equal(1100, back.Tensors.Count);
        Assert.Equal(550, back.ObjectKeys.Count);
        Assert.Equal(written.StorageData, back.Metadata.StorageData, new StorageItemComparer());
        Assert.Equal(new[] { 1099, 1100 }, TensorFactory.Ints(back.ReadAll("decoder.layers.1099.self_attention.linear_qkv.weight")));
        Assert.Equal("fixed", back.Metadata.SaveId);
        Assert.Equal(temp.Path, back.Metadata.CheckpointId);
    }

    private sealed class StorageItemComparer : IEqualityComparer<DcpStorageItem>
    {
        public bool Equals(DcpStorageItem? a, DcpStorageItem? b) =>
            a!.Info == b!.Info && a.Key.Fqn == b.Key.Fqn && a.Key.Index == b.Key.Index
            && (a.Key.Offset ?? Array.Empty<long>()).SequenceEqual(b.Key.Offset ?? Array.Empty<long>());
        public int GetHashCode(DcpStorageItem obj) => obj.Key.Fqn.GetHashCode();
    }
}

public class MegatronFolderExtrasTests
{
    [Fact]
    public void Train_state_is_a_torch_file_of_scalars_copied_to_the_root()
    {
        using var temp = TestPaths.NewTempDir();
        var iter = MegatronCheckpointFolder.CreateIterationFolder(temp.Path, 0);
        MegatronCheckpointFolder.WriteTrainState(temp.Path, iter, 0);
        var path = Path.Combine(iter, MegatronCheckpointFolder.TrainStateFileName);
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(temp.Sub(MegatronCheckpointFolder.LatestTrainStateFileName)));
        using var file = File.OpenHandle(path);
        var archive = TorchZipArchive.Open(file, path, 0, RandomAccess.GetLength(file));
        Assert.Equal("train_state", archive.ArchiveName);
        var state = Assert.IsType<PyDict>(TorchLoad.Load(archive));
        Assert.Equal(8, state.Count);
        Assert.True(state.TryGet("floating_point_operations_so_far", out var flops));
        var t = Assert.IsType<TorchTensorRef>(flops);
        Assert.Equal(DType.F32, t.DType);
        Assert.Empty(t.Shape);
        Assert.True(state.TryGet("step", out var step));
        Assert.Equal(new byte[8], ((TorchTensorRef)step!).ReadAll());
    }

    [Fact]
    public void Checkpoint_with_a_gap_in_its_chunk_grid_is_rejected()
    {
        using var temp = TestPaths.NewTempDir();
        var writer = new TorchDistWriter(temp.Path);
        writer.AddTensor("t", DType.U8, new long[] { 4 }, new[]
        {
            new TorchDistChunk(new long[] { 0 }, new long[] { 2 }, s => s.Write(0, new byte[2])),
            new TorchDistChunk(new long[] { 2 }, new long[] { 2 }, s => s.Write(0, new byte[2])),
        });
        var md = writer.Write();
        var t = (DcpTensorEntry)md.Entries[0];
        md.Entries[0] = t with { Size = new long[] { 5 } };
        File.WriteAllBytes(temp.Sub(".metadata"), DcpMetadataPickle.Serialize(md));
        var e = Assert.Throws<InvalidInputException>(() => TorchDistCheckpoint.Open(temp.Path));
        Assert.Contains("'t'", e.Message);
        Assert.Contains("cover 4 of 5", e.Message);
    }
}

public class CommonPtTests
{
    [Fact]
    public void Common_pt_is_written_on_request_and_preferred_when_reading()
    {
        using var temp = TestPaths.NewTempDir();
        var writer = new TorchDistWriter(temp.Path)
        {
            CommonPt = new PyDict().Add("checkpoint_version", 3.0).Add("iteration", 7L),
        };
        writer.AddTensor("t", DType.U8, new long[] { 1 }, s => s.Write(0, new byte[] { 9 }));
        writer.AddObject(TorchDistCheckpoint.CommonStateKey, new object?[] { new PyDict().Add("iteration", 3L) });
        writer.Write();

        var commonPt = temp.Sub("common.pt");
        using (var file = File.OpenHandle(commonPt))
        {
            Assert.Equal("common", TorchZipArchive.Open(file, commonPt, 0, RandomAccess.GetLength(file)).ArchiveName);
        }
        using var back = TorchDistCheckpoint.Open(temp.Path);
        Assert.Equal(7L, back.Iteration);
        File.Delete(commonPt);
        using var withoutPt = TorchDistCheckpoint.Open(temp.Path);
        Assert.Equal(3L, withoutPt.Iteration);
    }
}
