#!/usr/bin/python3
"""Interop suite: real PyTorch reads every checkpoint our CLI writes, and our CLI reads checkpoints PyTorch writes.

Run with Debian's /usr/bin/python3 and its python3-torch (1.13) after a Release build:

    /usr/bin/python3 tests/interop/run_interop.py [--only SUBSTRING] [--corrupt] [--keep DIR]

Cases (a table: add a layout or a variant as one row):
- write/<fixture>/torch_dist and write/<fixture>/<layout>: `megatron-bridge import`, then torch's DCP reader or
  torch.load; every tensor must equal, bit for bit, what expected.py computes from the HF safetensors. Each legacy
  rank file's data.pkl must also equal torch.save's pickle of the same loaded dict, and every pickle we wrote
  (rank files, torch_dist's .pt files and torch.save'd objects inside .distcp) must pass the weights-only audit.
- read/<fixture>/<writer>: checkpoints written by torch.save / torch's DCP writer (torch_writes.py), then
  `megatron-bridge export`; the HF folder must equal the fixture byte for byte.
- write/<fixture>/<variant>/<layout> and read/<fixture>/torch.save-<variant>-<layout> (WRITE_VARIANTS, READ_VARIANTS):
  the same checks for MTP left out or renamed, sequential experts, padded vocabularies and FP8 releases (an HF folder
  built here by hf_builds.py); the expected table is changed accordingly by variants.py.
- self-test/...: a copy of a written checkpoint with one byte of one tensor flipped must be reported, naming it.
`--corrupt` flips a byte in every written checkpoint before it is checked: the suite must then fail.
Prints one line per case and ends with "interop: N passed, N failed"; exits 1 when any case failed.
"""
import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

# Layouts our import writes as legacy per-rank files; moe=True: only for fixtures with routed experts.
WRITE_LAYOUTS = [
    ("tp2", dict(tp=2, pp=1, ep=1), False),
    ("tp2-pp2", dict(tp=2, pp=2, ep=1), False),
    ("ep2-pp2", dict(tp=1, pp=2, ep=2), True),
    ("tp2-ep2-etp1", dict(tp=2, pp=1, ep=2, etp=1), True),
    ("pp2-vpp2", dict(tp=1, pp=2, vpp=2, ep=1), False),
]

# Checkpoints written by torch for our export to read.
READ_WRITERS = [
    ("torch.save-tp2-pp2", "legacy", dict(tp=2, pp=2, ep=1), False),
    ("torch.save-ep2", "legacy", dict(tp=1, pp=1, ep=2), True),
    ("dcp-file-per-rank", "dist", True, False),
    ("dcp-file-per-item", "dist", False, False),
]

# Variants of the import (MTP, sequential experts, padded vocabularies, FP8 releases): (name, fixtures, layout or None
# for torch_dist, variant). fixtures: "mtp" / "moe" (those with MTP / routed experts), "all", or a tuple of fixture
# names (VOCAB_FIXTURES: tied embeddings, Qwen3-VL, Qwen3.5 VL with MTP). Variant keys: hf (the HF folder imported:
# "without-mtp", the fixture without its mtp.* tensors, or ("fp8", (block rows, block cols), scale dtype), its
# blockwise FP8 release), args (extra import options), no_mtp (no MTP written), mtp_name (the MTP inner layer's name),
# sequential (SequentialMLP expert names), vocab (--make-vocab-size-divisible-by), tp (torch_dist: the --tp the
# padding is computed for).
VOCAB_FIXTURES = ("qwen35-text-dense-tied-tiny", "qwen3-vl-dense-tiny", "qwen35-vl-moe-tiny")
WRITE_VARIANTS = [
    ("no-mtp-folder/torch_dist", "mtp", None, dict(hf="without-mtp", args=["--no-mtp"])),
    ("no-mtp-folder/tp2-pp2", "mtp", dict(tp=2, pp=2, ep=1), dict(hf="without-mtp")),
    ("no-mtp/tp2-pp2", ("qwen35-vl-moe-tiny",), dict(tp=2, pp=2, ep=1), dict(args=["--no-mtp"], no_mtp=True)),
    ("mtp-mtp_model_layer/torch_dist", "mtp", None,
     dict(args=["--mtp-layer-name", "mtp_model_layer"], mtp_name="mtp_model_layer")),
    ("mtp-transformer_layer/tp2-pp2", "mtp", dict(tp=2, pp=2, ep=1),
     dict(args=["--mtp-layer-name", "transformer_layer"], mtp_name="transformer_layer")),
    ("sequential/ep2", "moe", dict(tp=1, pp=1, ep=2), dict(args=["--no-grouped-gemm"], sequential=True)),
    ("sequential/tp2-ep2-etp1", "moe", dict(tp=2, pp=1, ep=2, etp=1), dict(args=["--no-grouped-gemm"], sequential=True)),
    # The fixtures' 1024 rows are already a multiple of 128 x 2 (no padding); 96 x 2 pads them to 1152.
    ("vocab128/tp2", ("qwen35-vl-moe-tiny",), dict(tp=2, pp=1, ep=1), dict(vocab=128)),
    ("vocab128/torch_dist", ("qwen35-text-dense-tied-tiny",), None, dict(vocab=128, tp=2)),
    ("vocab96/tp2-pp2", VOCAB_FIXTURES, dict(tp=2, pp=2, ep=1), dict(vocab=96)),
    ("vocab96/torch_dist", VOCAB_FIXTURES, None, dict(vocab=96, tp=2)),
    ("fp8-16x16-f32/torch_dist", ("qwen35-vl-moe-tiny",), None, dict(hf=("fp8", (16, 16), "float32"))),
    ("fp8-16x16-f32/tp2-ep2-etp1", ("qwen35-vl-moe-tiny",), dict(tp=2, pp=1, ep=2, etp=1), dict(hf=("fp8", (16, 16), "float32"))),
    ("fp8-32x24-bf16/torch_dist", ("qwen35-text-moe-tiny",), None, dict(hf=("fp8", (32, 24), "bfloat16"))),
]

# Checkpoints of the variants written by torch.save (legacy layout) or torch's DCP writer (layout None, one file per
# rank), for our export to read: (name, fixtures, layout, variant).
READ_VARIANTS = [
    ("torch.save-sequential-ep2", "moe", dict(tp=1, pp=1, ep=2), dict(sequential=True)),
    ("torch.save-sequential-tp2-ep2-etp1", ("qwen35-vl-moe-tiny",), dict(tp=2, pp=1, ep=2, etp=1), dict(sequential=True)),
    ("torch.save-mtp-transformer_layer-tp2-pp2", "mtp", dict(tp=2, pp=2, ep=1), dict(mtp_name="transformer_layer")),
    ("torch.save-no-mtp-tp2-pp2", "mtp", dict(tp=2, pp=2, ep=1), dict(no_mtp=True)),
    ("torch.save-vocab96-tp2", VOCAB_FIXTURES, dict(tp=2, pp=1, ep=1), dict(vocab=96)),
    ("dcp-mtp_model_layer", "mtp", None, dict(mtp_name="mtp_model_layer")),
    ("dcp-no-mtp", ("qwen35-vl-moe-tiny",), None, dict(no_mtp=True)),
    ("dcp-vocab96-tp2", VOCAB_FIXTURES, None, dict(vocab=96, tp=2)),
]


def model_fixtures():
    root = os.path.join(REPO, "tests", "fixtures")
    return sorted(d for d in os.listdir(root)
                  if os.path.isfile(os.path.join(root, d, "model.safetensors")) and os.path.isfile(os.path.join(root, d, "config.json")))


def cli_command():
    dll = os.path.join(REPO, "src", "MegatronBridge.Cli", "bin", "Release", "net10.0", "megatron-bridge.dll")
    if not os.path.isfile(dll):
        raise SystemExit(f"interop: {dll} not found: build first (dotnet build MegatronBridge.slnx -c Release)")
    return ["dotnet", dll]


def run_cli(args):
    result = subprocess.run(cli_command() + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"megatron-bridge {' '.join(args)} exited {result.returncode}:\n{result.stdout[-2000:]}")


def layout_args(layout):
    args = ["--tp", str(layout["tp"]), "--pp", str(layout["pp"]), "--ep", str(layout["ep"])]
    if layout.get("vpp", 1) > 1:
        args += ["--vpp", str(layout["vpp"])]
    if "etp" in layout:
        args += ["--etp", str(layout["etp"])]
    return args


class Suite:
    def __init__(self, work, corrupt):
        self.work = work
        self.corrupt = corrupt
        self.tables = {}

    def table(self, fixture):
        from expected import megatron_tensors
        if fixture not in self.tables:
            self.tables[fixture] = megatron_tensors(os.path.join(REPO, "tests", "fixtures", fixture))
        return self.tables[fixture]

    def write_dist(self, fixture):
        from check_written import check_dist
        from corrupt import corrupt_dist
        table, m = self.table(fixture)
        out = os.path.join(self.work, f"write-{fixture}-torch_dist")
        run_cli(["import", "--hf-model", os.path.join(REPO, "tests", "fixtures", fixture), "--megatron-path", out])
        if self.corrupt:
            corrupt_dist(out)
        return check_dist(out, table, m) + audit_dist(out)

    def write_legacy(self, fixture, layout):
        from check_written import check_legacy
        from corrupt import corrupt_legacy
        table, m = self.table(fixture)
        out = os.path.join(self.work, f"write-{fixture}-{'-'.join(f'{k}{v}' for k, v in layout.items())}")
        run_cli(["import", "--hf-model", os.path.join(REPO, "tests", "fixtures", fixture), "--megatron-path", out,
                 "--format", "torch"] + layout_args(layout))
        if self.corrupt:
            corrupt_legacy(out)
        return check_legacy(out, layout, table, m) + audit_legacy(out)

    def read(self, fixture, kind, option):
        from compare_hf import compare_hf
        from torch_writes import write_dist, write_legacy
        table, m = self.table(fixture)
        name = f"read-{fixture}-{kind}-{option if kind == 'dist' else '-'.join(f'{k}{v}' for k, v in option.items())}"
        src, hf = os.path.join(self.work, name), os.path.join(self.work, name + "-hf")
        if kind == "legacy":
            write_legacy(src, table, m, option)
        else:
            write_dist(src, table, m, option)
        fixture_dir = os.path.join(REPO, "tests", "fixtures", fixture)
        run_cli(["export", "--hf-model", fixture_dir, "--megatron-path", src, "--hf-path", hf])
        return compare_hf(hf, fixture_dir)

    def variant(self, fixture, v, hf_dir):
        """(HF folder to import, expected table, model, MTP name in torch_dist keys) of a variant."""
        from hf_builds import fp8_release, without_mtp
        from variants import drop_mtp, rename_mtp
        from expected import megatron_tensors, megatron_tensors_of
        import torch
        source = os.path.join(REPO, "tests", "fixtures", fixture)
        if v.get("hf") == "without-mtp":
            source = without_mtp(source, hf_dir)
            table, m = megatron_tensors(source)
        elif isinstance(v.get("hf"), tuple):
            _, block, scale_dtype = v["hf"]
            hf, config = fp8_release(source, hf_dir, block, getattr(torch, scale_dtype))
            source = hf_dir
            table, m = megatron_tensors_of(hf, config)
        else:
            table, m = self.table(fixture)
        if v.get("no_mtp"):
            table, m = drop_mtp(table, m)
        if v.get("mtp_name") == "transformer_layer":
            table = rename_mtp(table, "transformer_layer")  # legacy files' default is mtp_model_layer
        return source, table, m, v.get("mtp_name", "transformer_layer")

    def write_variant(self, name, fixture, layout, v):
        from check_written import check_dist, check_legacy
        from corrupt import corrupt_dist, corrupt_legacy
        from variants import pad_vocab
        out = os.path.join(self.work, f"write-{fixture}-{name.replace('/', '-')}")
        source, table, m, mtp_name = self.variant(fixture, v, out + "-hf")
        args = ["import", "--hf-model", source, "--megatron-path", out] + v.get("args", [])
        if layout:
            args += ["--format", "torch"] + layout_args(layout)
        elif v.get("tp"):
            args += ["--tp", str(v["tp"])]
        if v.get("vocab"):
            args += ["--make-vocab-size-divisible-by", str(v["vocab"])]
            table = pad_vocab(table, v["vocab"], layout["tp"] if layout else v.get("tp", 1))
        run_cli(args)
        if layout is None:
            if self.corrupt:
                corrupt_dist(out)
            return check_dist(out, table, m, mtp_name) + audit_dist(out)
        if self.corrupt:
            corrupt_legacy(out)
        return check_legacy(out, layout, table, m, v.get("sequential", False)) + audit_legacy(out)

    def read_variant(self, name, fixture, layout, v):
        """torch writes the variant; export must give back the fixture (without mtp.* when the case drops it)."""
        from compare_hf import compare_hf
        from hf_builds import without_mtp
        from torch_writes import write_dist, write_legacy
        from variants import pad_vocab
        src = os.path.join(self.work, f"read-{fixture}-{name}")
        _, table, m, mtp_name = self.variant(fixture, v, src + "-unused")
        if v.get("vocab"):
            table = pad_vocab(table, v["vocab"], layout["tp"] if layout else v.get("tp", 1))
        if layout:
            write_legacy(src, table, m, layout, v.get("sequential", False))
        else:
            write_dist(src, table, m, True, mtp_name)
        fixture_dir = os.path.join(REPO, "tests", "fixtures", fixture)
        run_cli(["export", "--hf-model", fixture_dir, "--megatron-path", src, "--hf-path", src + "-hf"])
        want = without_mtp(fixture_dir, src + "-want") if v.get("no_mtp") else fixture_dir
        return compare_hf(src + "-hf", want)

    def self_test(self, fmt):
        """A corrupted byte in one tensor of a written checkpoint must be reported, naming that tensor."""
        from check_written import check_dist, check_legacy
        from corrupt import corrupt_dist, corrupt_legacy
        fixture = "qwen35-vl-moe-tiny" if "qwen35-vl-moe-tiny" in model_fixtures() else model_fixtures()[0]
        table, m = self.table(fixture)
        out = os.path.join(self.work, f"self-test-{fmt}")
        args = ["import", "--hf-model", os.path.join(REPO, "tests", "fixtures", fixture), "--megatron-path", out]
        layout = dict(tp=2, pp=2, ep=1)
        if fmt == "torch":
            args += ["--format", "torch"] + layout_args(layout)
        run_cli(args)
        clean = check_legacy(out, layout, table, m) if fmt == "torch" else check_dist(out, table, m)
        if clean:
            return ["the uncorrupted checkpoint already fails: " + clean[0]]
        copy = out + "-corrupted"
        shutil.copytree(out, copy)
        tensor = corrupt_legacy(copy) if fmt == "torch" else corrupt_dist(copy)
        found = check_legacy(copy, layout, table, m) if fmt == "torch" else check_dist(copy, table, m)
        if not any(tensor in p for p in found):
            return [f"flipping a byte of {tensor} in {copy} was not reported (problems: {found[:3]})"]
        return []


def audit_legacy(root):
    """Weights-only audit of every rank file, and its data.pkl equal to torch.save's of the same loaded dict."""
    import io

    import torch

    from pickle_audit import audit_torch_save, data_pkl
    problems = []
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".pt"):
                continue
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                blob = f.read()
            problems += audit_torch_save(blob, path)
            again = io.BytesIO()
            torch.save(torch.load(io.BytesIO(blob), map_location="cpu"), again)
            if data_pkl(blob) != data_pkl(again.getvalue()):
                problems.append(f"{path}: data.pkl differs from torch.save's pickle of the same dict")
    return problems


def audit_dist(root):
    """Weights-only audit of torch_dist's .pt files and of the torch.save'd objects stored inside the .distcp files."""
    from check_written import iteration_folder
    from pickle_audit import audit_torch_save
    from torch_compat import dcp
    problems = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".pt"):
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    problems += audit_torch_save(f.read(), path)
    folder = iteration_folder(root)
    metadata = dcp.FileSystemReader(folder).read_metadata()
    for index, info in metadata.storage_data.items():
        if isinstance(metadata.state_dict_metadata[index.fqn], dcp.metadata.BytesStorageMetadata):
            with open(os.path.join(folder, info.relative_path), "rb") as f:
                f.seek(info.offset)
                problems += audit_torch_save(f.read(info.length), f"{folder}/{info.relative_path} item {index.fqn}")
    return problems


def selected(which, fixture, m):
    if isinstance(which, tuple):
        return fixture in which
    return which == "all" or (which == "mtp" and m.mtp_layers > 0) or (which == "moe" and m.experts > 0)


def cases(suite):
    out = []
    for fixture in model_fixtures():
        _, m = suite.table(fixture)
        out.append((f"write/{fixture}/torch_dist", lambda f=fixture: suite.write_dist(f)))
        for name, layout, moe in WRITE_LAYOUTS:
            if moe and not m.experts:
                continue
            out.append((f"write/{fixture}/{name}", lambda f=fixture, l=layout: suite.write_legacy(f, l)))
        for name, kind, option, moe in READ_WRITERS:
            if moe and not m.experts:
                continue
            out.append((f"read/{fixture}/{name}", lambda f=fixture, k=kind, o=option: suite.read(f, k, o)))
        for name, which, layout, v in WRITE_VARIANTS:
            if selected(which, fixture, m):
                out.append((f"write/{fixture}/{name}", lambda f=fixture, n=name, l=layout, v=v: suite.write_variant(n, f, l, v)))
        for name, which, layout, v in READ_VARIANTS:
            if selected(which, fixture, m):
                out.append((f"read/{fixture}/{name}", lambda f=fixture, n=name, l=layout, v=v: suite.read_variant(n, f, l, v)))
    if not suite.corrupt:
        out.append(("self-test/e4m3-codec", lambda: __import__("e4m3").self_check()))
        out.append(("self-test/corrupted-byte-torch_dist", lambda: suite.self_test("torch_dist")))
        out.append(("self-test/corrupted-byte-legacy", lambda: suite.self_test("torch")))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="run only cases whose name contains this")
    parser.add_argument("--corrupt", action="store_true", help="flip a byte in every written checkpoint (the suite must fail)")
    parser.add_argument("--keep", help="write into this folder and keep it (default: a temporary folder, removed)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    try:
        import torch
        import torch_compat
        torch_compat.require_torch_1_13_or_newer()
    except ImportError as e:
        print(f"interop: PyTorch is not importable by {sys.executable} ({e}); on Debian 12: "
              "apt-get install -y --no-install-recommends python3-torch")
        print("interop: 0 passed, 1 failed")
        return 1
    print(f"interop: torch {torch.__version__}, Python {sys.version.split()[0]}, {args.jobs} jobs", flush=True)
    work = args.keep or tempfile.mkdtemp(prefix="mb-interop-")
    os.makedirs(work, exist_ok=True)
    suite = Suite(work, args.corrupt)
    todo = [(n, f) for n, f in cases(suite) if not args.only or args.only in n]
    passed = failed = 0
    start = time.monotonic()

    def run(case):
        name, fn = case
        try:
            return name, fn()
        except Exception:
            return name, ["raised: " + traceback.format_exc(limit=3)]

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for name, problems in pool.map(run, todo):
                if problems:
                    failed += 1
                    print(f"FAIL {name}: {len(problems)} problem(s)")
                    for p in problems[:8]:
                        print(f"     {p}")
                else:
                    passed += 1
                    print(f"ok   {name}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if not todo:
        failed += 1
        print(f"FAIL no case matches --only {args.only}")
    print(f"interop: {time.monotonic() - start:.0f} s")
    print(f"interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
