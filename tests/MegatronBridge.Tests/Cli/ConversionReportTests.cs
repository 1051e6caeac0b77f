using System.Globalization;
using MegatronBridge.Cli.Commands;
using MegatronBridge.Jobs;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>The shared pieces of the import / export summaries and JSON results.</summary>
public class ConversionReportTests
{
    [Fact]
    public void Time_IsSecondsAndRate_WithADecimalPointWhateverTheCulture()
    {
        var saved = CultureInfo.CurrentCulture;
        try
        {
            // A culture with a decimal comma (built by hand: the tests may run in globalization-invariant mode).
            var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            CultureInfo.CurrentCulture = comma;
            // 3 MiB in 1.5 s = 2 MiB/s.
            Assert.Equal("1.50 s (2.0 MiB/s)", ConversionReport.Time(3L << 20, TimeSpan.FromSeconds(1.5)));
            Assert.Equal("0.00 s (-)", ConversionReport.Time(100, TimeSpan.Zero));
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void FormatName_IsTheFormatOptionsSpelling()
    {
        Assert.Equal("torch", ConversionReport.FormatName(MegatronFormat.Torch));
        Assert.Equal("torch_dist", ConversionReport.FormatName(MegatronFormat.TorchDist));
    }
}
