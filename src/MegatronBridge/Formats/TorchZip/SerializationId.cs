namespace MegatronBridge.Formats.TorchZip;

/// <summary>
/// The 40-digit <c>.data/serialization_id</c> record of PyTorchStreamWriter (spec §4.2): a hash over the record
/// names, iterated in libstdc++ unordered_set order, followed by a fold over the CRC-32s of the non-empty records.
/// Nobody validates it on load; reproducing it keeps the items byte-identical to torch.save.
/// </summary>
internal static class SerializationId
{
    public static string Compute(IReadOnlyList<string> namesInWriteOrder, IReadOnlyList<uint> crcsOfNonEmptyRecords)
    {
        ulong names = 0;
        foreach (var h in UnorderedSetOrder(namesInWriteOrder.Select(HashBytes).ToList())) names = Combine(names, h);
        ulong crcs = 0;
        foreach (var crc in crcsOfNonEmptyRecords) crcs = Combine(crcs, crc);
        return names.ToString("D20") + crcs.ToString("D20");
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
    /// 13 buckets up to 13 elements, then growth to the next prime at least twice the bucket count (modelled
    /// after libstdc++'s rehash policy; only the ≤ 13 case is verified against torch output).
    /// </summary>
    private static List<ulong> UnorderedSetOrder(List<ulong> hashes)
    {
        ulong buckets = 13;
        var order = new List<ulong>();
        foreach (var h in hashes)
        {
            if (order.Count + 1 > (int)buckets)
            {
                buckets = NextPrime(Math.Max((ulong)order.Count + 2, buckets * 2));
                var old = order;
                order = new List<ulong>();
                foreach (var x in old) Insert(order, x, buckets);
            }
            Insert(order, h, buckets);
        }
        return order;
    }

    private static void Insert(List<ulong> order, ulong hash, ulong buckets)
    {
        var bucket = hash % buckets;
        var first = order.FindIndex(x => x % buckets == bucket);
        order.Insert(first < 0 ? 0 : first, hash);
    }

    private static ulong NextPrime(ulong n)
    {
        for (var candidate = Math.Max(n, 2); ; candidate++)
        {
            bool prime = true;
            for (ulong d = 2; d * d <= candidate; d++)
            {
                if (candidate % d == 0)
                {
                    prime = false;
                    break;
                }
            }
            if (prime) return candidate;
        }
    }
}
