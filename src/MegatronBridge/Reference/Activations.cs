using System.Numerics.Tensors;

namespace MegatronBridge.Reference;

/// <summary>Element-wise activations, matching torch's float32 definitions.</summary>
internal static class Activations
{
    /// <summary>x * sigmoid(x), in place.</summary>
    public static void SiluInPlace(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = Silu(x[i]);
    }

    public static float Silu(float x) => x / (1f + MathF.Exp(-x));

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>torch.nn.functional.softplus with beta 1, threshold 20.</summary>
    public static float Softplus(float x) => x > 20f ? x : (float)Math.Log(1.0 + Math.Exp(x));

    /// <summary>gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    public static void GeluTanhInPlace(Span<float> x)
    {
        const double c = 0.7978845608028654; // sqrt(2 / pi)
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            x[i] = (float)(0.5 * v * (1.0 + Math.Tanh(c * (v + 0.044715 * v * v * v))));
        }
    }

    /// <summary>Exact GELU (nn.GELU()): 0.5 x (1 + erf(x / sqrt 2)).</summary>
    public static void GeluErfInPlace(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            x[i] = (float)(0.5 * v * (1.0 + Erf(v / Math.Sqrt(2.0))));
        }
    }

    /// <summary>erf to about 1e-15 (series near 0, continued fraction of erfc in the tails).</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        double ax = Math.Abs(x);
        double result;
        if (ax < 2.5)
        {
            // Maclaurin series: erf x = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)).
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 80; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            result = 2.0 / Math.Sqrt(Math.PI) * sum;
        }
        else if (ax > 6.0)
        {
            result = 1.0;
        }
        else
        {
            // erfc x = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) evaluated bottom-up.
            double f = ax;
            for (int k = 60; k >= 1; k--) f = ax + k / 2.0 / f;
            result = 1.0 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        }
        return x < 0 ? -result : result;
    }

    /// <summary>SwiGLU: output[i] = silu(gate[i]) * up[i] (output may alias gate).</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        for (int i = 0; i < output.Length; i++) output[i] = Silu(gate[i]) * up[i];
    }

    /// <summary>Softmax over a row, in float32 with the max subtracted, like torch.</summary>
    public static void SoftmaxInPlace(Span<float> row) => TensorPrimitives.SoftMax(row, row);
}
