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

    /// <summary>
    /// The options given on the command line with a value other than 1 (as "--tp 2"): a torch_dist import refuses them,
    /// since a torch_dist checkpoint stores whole tensors that Megatron-Core reshards to the layout that loads it.
    /// <paramref name="exceptTp"/> leaves --tp out (it then only sets the padded vocabulary size).
    /// </summary>
    public IReadOnlyList<string> GivenNonDefault(ParseResult parse, bool exceptTp = false)
    {
        var given = new List<string>();
        foreach (var o in exceptTp ? new[] { _pp, _vpp, _ep } : new[] { _tp, _pp, _vpp, _ep })
            if (parse.GetResult(o) is { Implicit: false } && parse.GetValue(o) != 1) given.Add($"{o.Name} {parse.GetValue(o)}");
        if (parse.GetValue(_etp) is int etp && etp != 1) given.Add($"{_etp.Name} {etp}");
        return given;
    }

    public ParallelLayout Read(ParseResult parse) =>
        new(parse.GetValue(_tp), parse.GetValue(_pp), parse.GetValue(_vpp), parse.GetValue(_ep), parse.GetValue(_etp) ?? 0);
}
