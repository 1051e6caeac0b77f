namespace MegatronBridge.Formats.TorchZip;

/// <summary>
/// The 40-digit <c>.data/serialization_id</c> record of PyTorchStreamWriter (docs/formats.md, torch.save archives): a
/// hash over the record names, iterated in libstdc++ unordered_set order, followed by a fold over the CRC-32s of the
/// non-empty records. Nobody validates it on load; reproducing it keeps the items byte-identical to torch.save.
/// </summary>
internal static class SerializationId
{
    public static string Compute(IReadOnlyList<string> namesInWriteOrder, IReadOnlyList<uint> crcsOfNonEmptyRecords)
    {
        var names = NamesHash(namesInWriteOrder);
        ulong crcs = 0;
        foreach (var crc in crcsOfNonEmptyRecords) crcs = Combine(crcs, crc);
        return names.ToString("D20") + crcs.ToString("D20");
    }

    internal static ulong NamesHash(IReadOnlyList<string> namesInWriteOrder)
    {
        ulong names = 0;
        foreach (var h in UnorderedSetOrder(namesInWriteOrder.Select(HashBytes).ToList())) names = Combine(names, h);
        return names;
    }

    private static ulong Combine(ulong seed, ulong value) =>
        seed ^ unchecked(value + 0x9E3779B9UL + (seed << 6) + (seed >> 2));

    /// <summary>libstdc++ std::_Hash_bytes (MurmurHash64A variant) with the std::hash seed 0xC70F6907.</summary>
    internal static ulong HashBytes(string name)
    {
        var data = System.Text.Encoding.UTF8.GetBytes(name);
        const ulong mul = 0xC6A4A7935BD1E995UL;
        ulong hash = unchecked(0xC70F6907UL ^ ((ulong)data.Length * mul));
        int fullWords = data.Length / 8 * 8;
        for (int i = 0; i < fullWords; i += 8)
        {
            ulong w = BitConverter.ToUInt64(data, i);
            w = unchecked(ShiftMix(w * mul) * mul);
            hash ^= w;
            hash = unchecked(hash * mul);
        }
        if ((data.Length & 7) != 0)
        {
            ulong tail = 0;
            for (int i = data.Length - 1; i >= fullWords; i--) tail = (tail << 8) | data[i];
            hash ^= tail;
            hash = unchecked(hash * mul);
        }
        return ShiftMix(unchecked(ShiftMix(hash) * mul));
    }

    private static ulong ShiftMix(ulong v) => v ^ (v >> 47);

    /// <summary>
    /// Iteration order of a libstdc++ unordered_set after inserting the hashes in order: one singly linked list;
    /// a node goes to the front of the list when its bucket is empty, else right before its bucket's first node.
    /// 13 buckets up to 13 elements; when the count would exceed the bucket count, rehash to the first bucket count
    /// of libstdc++'s prime table that is at least max(count + 1, 2 × buckets), re-inserting in list order.
    /// </summary>
    private static List<ulong> UnorderedSetOrder(List<ulong> hashes)
    {
        var set = new LinkedBuckets(13, hashes.Count);
        foreach (var h in hashes)
        {
            if ((ulong)set.Count + 1 > set.BucketCount)
                set = set.Rehash(NextPrime(Math.Max((ulong)set.Count + 2, set.BucketCount * 2)));
            set.Insert(h);
        }
        return set.InOrder();
    }

    /// <summary>libstdc++'s node list with per-bucket "node before my first node" pointers, in arrays.</summary>
    private sealed class LinkedBuckets
    {
        private const int Empty = -1;
        private const int BeforeBegin = -2;
        private readonly ulong[] _hash;
        private readonly int[] _next;
        private readonly int[] _bucketBefore;
        private int _first = Empty;

        public LinkedBuckets(ulong bucketCount, int capacity)
        {
            BucketCount = bucketCount;
            _hash = new ulong[capacity];
            _next = new int[capacity];
            _bucketBefore = new int[bucketCount];
            Array.Fill(_bucketBefore, Empty);
        }

        public ulong BucketCount { get; }
        public int Count { get; private set; }

        private int Bucket(int node) => (int)(_hash[node] % BucketCount);

        public void Insert(ulong hash)
        {
            var node = Count++;
            _hash[node] = hash;
            var bucket = Bucket(node);
            var before = _bucketBefore[bucket];
            if (before != Empty)
            {
                // Right before the bucket's first node.
                ref int link = ref before == BeforeBegin ? ref _first : ref _next[before];
                _next[node] = link;
                link = node;
            }
            else
            {
                // Front of the list; the old first node's bucket now starts after this node.
                _next[node] = _first;
                _first = node;
                if (_next[node] != Empty) _bucketBefore[Bucket(_next[node])] = node;
                _bucketBefore[bucket] = BeforeBegin;
            }
        }

        public List<ulong> InOrder()
        {
            var order = new List<ulong>(Count);
            for (int n = _first; n != Empty; n = _next[n]) order.Add(_hash[n]);
            return order;
        }

        public LinkedBuckets Rehash(ulong bucketCount)
        {
            var rehashed = new LinkedBuckets(bucketCount, _hash.Length);
            foreach (var h in InOrder()) rehashed.Insert(h);
            return rehashed;
        }
    }

    private static ulong NextPrime(ulong n)
    {
        var i = Array.BinarySearch(BucketCounts, n);
        if (i < 0) i = ~i;
        if (i >= BucketCounts.Length) throw new NotSupportedException("too many records for the serialization id model");
        return BucketCounts[i];
    }

    /// <summary>
    /// libstdc++'s bucket counts from 29 on (the values std::__detail::_Prime_rehash_policy::_M_next_bkt returns,
    /// obtained by running it; not every prime is in the table).
    /// </summary>
    private static readonly ulong[] BucketCounts =
    {
        29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 103, 109, 113, 127, 137, 139, 149, 157, 167, 
        179, 193, 199, 211, 227, 241, 257, 277, 293, 313, 337, 359, 383, 409, 439, 467, 503, 541, 577, 619, 661, 709, 
        761, 823, 887, 953, 1031, 1109, 1193, 1289, 1381, 1493, 1613, 1741, 1879, 2029, 2179, 2357, 2549, 2753, 2971, 
        3209, 3469, 3739, 4027, 4349, 4703, 5087, 5503, 5953, 6427, 6949, 7517, 8123, 8783, 9497, 10273, 11113, 
        12011, 12983, 14033, 15173, 16411, 17749, 19183, 20753, 22447, 24281, 26267, 28411, 30727, 33223, 35933, 
        38873, 42043, 45481, 49201, 53201, 57557, 62233, 67307, 72817, 78779, 85229, 92203, 99733, 107897, 116731, 
        126271, 136607, 147793, 159871, 172933, 187091, 202409, 218971, 236897, 256279, 277261, 299951, 324503, 
        351061, 379787, 410857, 444487, 480881, 520241, 562841, 608903, 658753, 712697, 771049, 834181, 902483, 
        976369, 1056323, 1142821, 1236397, 1337629, 1447153, 1565659, 1693859, 1832561, 1982627, 2144977, 2320627, 
        2510653, 2716249, 2938679, 3179303, 3439651, 3721303, 4026031, 4355707, 4712381, 5098259, 5515729, 5967347, 
        6456007, 6984629, 7556579, 8175383, 8844859, 9569143, 10352717, 11200489, 12117689, 13109983, 14183539, 
        15345007, 16601593, 17961079, 19431899, 21023161, 22744717, 24607243, 26622317, 28802401, 31160981, 33712729, 
        36473443, 39460231, 42691603, 46187573, 49969847, 54061849, 58488943, 63278561, 68460391, 74066549, 80131819, 
        86693767, 93793069, 101473717, 109783337, 118773397, 128499677, 139022417, 150406843, 162723577, 176048909, 
        190465427, 206062531, 222936881, 241193053, 260944219, 282312799, 305431229, 330442829, 357502601, 386778277, 
        418451333, 452718089, 489790921, 529899637, 573292817, 620239453, 671030513, 725980837, 785430967, 849749479, 
        919334987, 994618837, 1076067617, 1164186217, 1259520799, 1362662261, 1474249943, 1594975441, 1725587117, 
        1866894511, 2019773507, 2185171673, 2364114217, 2557710269, 2767159799, 2993761039, 3238918481, 3504151727, 
        3791104843, 4101556399, 4294967291, 6442450933,
    };
}
