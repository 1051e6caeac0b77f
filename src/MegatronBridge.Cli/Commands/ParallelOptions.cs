using System.CommandLine;
using MegatronBridge.Conversion;

namespace MegatronBridge.Cli.Commands;

/// <summary>--tp --pp --vpp --ep --etp, as Megatron-Bridge spells them.</summary>
internal sealed class ParallelOptions
{
    private readonly Option<int> _tp = new("--tp") { Description = "Tensor-parallel size.", DefaultValueFactory = _ => 1 };
    private readonly Option<int> _pp = new("--pp") { Description = "Pipeline-parallel size.", DefaultValueFactory = _ => 1 };
    private readonly Option<int> _vpp = new("--vpp") { Description = "Virtual pipeline stages per pipeline rank.", DefaultValueFactory = _ => 1 };
    private readonly Option<int> _ep = new("--ep") { Description = "Expert-parallel size.", DefaultValueFactory = _ => 1 };
    private readonly Option<int?> _etp = new("--etp") { Description = "Expert tensor-parallel size (default: same as --tp)." };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _tp, _pp, _vpp, _ep, _etp }) command.Options.Add(o);
    }

    public ParallelLayout Read(ParseResult parse) =>
        new(parse.GetValue(_tp), parse.GetValue(_pp), parse.GetValue(_vpp), parse.GetValue(_ep), parse.GetValue(_etp) ?? 0);
}
