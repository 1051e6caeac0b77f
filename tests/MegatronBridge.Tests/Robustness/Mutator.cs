using System.Buffers.Binary;

namespace MegatronBridge.Tests.Robustness;

/// <summary>
/// A seeded byte mutator in the spirit of libFuzzer's: bit flips, interesting bytes and integers, truncation,
/// insertion, deletion, duplication and splices with other corpus inputs. One seed gives one sequence of inputs.
/// </summary>
internal sealed class Mutator(int seed, IReadOnlyList<byte[]> corpus)
{
    private static readonly byte[] InterestingBytes = { 0x00, 0x01, 0x7F, 0x80, 0xFF, (byte)'"', (byte)'{', (byte)'}', (byte)'[', (byte)',', (byte)'.', (byte)'\n' };
    private static readonly long[] InterestingIntegers =
    {
        0, 1, -1, 2, 7, 8, 64, 255, 256, 0x7FFF, 0xFFFF, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue,
        1L << 31, 1L << 32, 1L << 40, 100_000_000, 100_000_001,
    };

    private readonly Random _random = new(seed);

    public byte[] Next()
    {
        var data = corpus[_random.Next(corpus.Count)].ToArray();
        int rounds = 1 + _random.Next(4);
        for (int i = 0; i < rounds; i++) data = MutateOnce(data);
        return data;
    }

    private byte[] MutateOnce(byte[] data)
    {
        if (data.Length == 0) return new[] { (byte)_random.Next(256) };
        int at = _random.Next(data.Length);
        switch (_random.Next(9))
        {
            case 0:
                data[at] ^= (byte)(1 << _random.Next(8));
                return data;
            case 1:
                data[at] = InterestingBytes[_random.Next(InterestingBytes.Length)];
                return data;
            case 2:
                return data[..at];
            case 3:
            {
                int width = new[] { 1, 2, 4, 8 }[_random.Next(4)];
                if (at + width > data.Length) return data;
                long value = _random.Next(3) == 0 ? data.Length + _random.Next(-8, 9) : InterestingIntegers[_random.Next(InterestingIntegers.Length)];
                var span = data.AsSpan(at, width);
                switch (width)
                {
                    case 1: span[0] = (byte)value; break;
                    case 2: BinaryPrimitives.WriteInt16LittleEndian(span, (short)value); break;
                    case 4: BinaryPrimitives.WriteInt32LittleEndian(span, (int)value); break;
                    default: BinaryPrimitives.WriteInt64LittleEndian(span, value); break;
                }
                return data;
            }
            case 4:
            {
                var insert = new byte[1 + _random.Next(16)];
                _random.NextBytes(insert);
                return [.. data[..at], .. insert, .. data[at..]];
            }
            case 5:
            {
                int length = Math.Min(1 + _random.Next(64), data.Length - at);
                return [.. data[..at], .. data[(at + length)..]];
            }
            case 6:
            {
                int length = Math.Min(1 + _random.Next(64), data.Length - at);
                var copy = data.AsSpan(at, length).ToArray();
                int to = _random.Next(data.Length);
                return [.. data[..to], .. copy, .. data[to..]];
            }
            case 7:
            {
                // Splice: the head of this input with the tail of another.
                var other = corpus[_random.Next(corpus.Count)];
                int from = _random.Next(other.Length + 1);
                return [.. data[..at], .. other[from..]];
            }
            default:
            {
                int length = Math.Min(1 + _random.Next(8), data.Length - at);
                _random.NextBytes(data.AsSpan(at, length));
                return data;
            }
        }
    }
}
