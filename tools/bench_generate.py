#!/usr/bin/python3
"""End-to-end generation benchmark: the dalle-vk CLI next to the PyTorch reference, same CPU, same run.

  bench_generate.py MODEL [--n 1 8] [--prompt P] [--seed S] [--top-k K] [--cond-scale S] [--repeat R]
                    [--engine build/dalle-vk] [--torch-threads T ...] [--growth]

For each batch size N, R times each (the median is reported):
  engine   the command `ENGINE --model MODEL PROMPT -n N --candidates N --seed S --top-k K --cond-scale C
           --prune-rows none -o TMP.png` (no reranking, no pruning: the PyTorch side does neither;
           C = the model's dalle.cond_scale unless given; progress on: its last progress line gives the
           transformer's tokens/s, its summary line the generation time);
  PyTorch  this script in a child process (--torch-worker): load the same GGUF (tools/dallevk/from_gguf),
           then the same generation: BPE, prefill, G*G-1 KV-cache decode steps for the N candidates as
           one batch (2N sequences with guidance, cond_scale != 1, as the engine), the same temperature /
           top-k / top-p (torch sampling), dVAE decode, RGB8 pixels;
           float32, torch threads = T (default: all cores, then 1).
Columns: gen s/img = the whole generation (prompt -> RGB8) / N (engine: dvk_images.seconds as the CLI
prints it, 0.1 s resolution); img tok/s = image tokens per second summed over the batch, transformer
phase (prefill + decode + sampling); proc s / cpu s = wall and CPU (user + system, all threads) seconds
of the whole process, startup, model load and, for PyTorch, `import torch` included; peak RSS = the
process's maximum resident set (wait4), which on lavapipe includes the device memory. Baselines
(`dalle-vk --list-devices`: Vulkan instance + lavapipe loaded; `import torch`) are printed for scale.
--growth then prints the decode-step growth table of `dalle-vk-bench decode` (bench/bench_decode.c: ms per
step at d_model 256..2048, 4 layers, random weights, N = 1 and 8, next to the weight-read bound) and the
same for MODEL.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOOLS)


def run_child(cmd, env=None):
    """Runs cmd; returns (stdout, stderr, wall s, cpu s, peak RSS MiB) of that process alone."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        o, e = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if p.returncode != 0:
        raise SystemExit("bench_generate: %s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, e))
    return o, e, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def engine_once(a, n, tmp):
    cmd = [a.engine, "--model", a.model, a.prompt, "-n", str(n), "--candidates", str(n), "--seed", str(a.seed),
           "--top-k", str(a.top_k), "--top-p", str(a.top_p), "--temperature", str(a.temperature),
           "--cond-scale", str(a.cond_scale), "--prune-rows", "none", "-o", os.path.join(tmp, "e.png")]
    _, err, wall, cpu, rss = run_child(cmd)
    rates = re.findall(r"progress: \d+/\d+ tokens(?: x \d+ candidates?)?, ([0-9.]+) tok/s", err)
    gen = re.findall(r"images? of \d+x\d+ in ([0-9.]+)s", err)
    if not rates or not gen:
        raise SystemExit("bench_generate: cannot read the engine's timings from:\n" + err)
    return {"gen_s": float(gen[-1]), "tok_s": float(rates[-1]), "proc_s": wall, "cpu_s": cpu, "rss": rss}


def torch_once(a, n, threads):
    cmd = [sys.executable, os.path.abspath(__file__), a.model, "--torch-worker", "--n", str(n), "--prompt", a.prompt,
           "--seed", str(a.seed), "--top-k", str(a.top_k), "--top-p", str(a.top_p), "--temperature",
           str(a.temperature), "--cond-scale", str(a.cond_scale), "--torch-threads", str(threads)]
    out, _, wall, cpu, rss = run_child(cmd)
    r = json.loads(out.strip().splitlines()[-1])
    return {"gen_s": r["gen_s"], "tok_s": r["tok_s"], "proc_s": wall, "cpu_s": cpu, "rss": rss}


def torch_worker(a):
    """Child process: one timed PyTorch generation; prints a JSON line."""
    import torch
    from dallevk.dvae import decode_pixels
    from dallevk.from_gguf import load_model
    from dallevk.transformer import pad_text
    torch.set_num_threads(a.torch_threads[0])
    m = load_model(a.model, dtype=torch.float32)
    cfg, n = m.dalle.cfg, a.n[0]
    with torch.no_grad():
        t0 = time.perf_counter()
        text = pad_text(m.bpe.encode(a.prompt), cfg.text_len, cfg.text_vocab)
        codes = m.dalle.generate(text, n=n, seed=a.seed, temperature=a.temperature, top_k=a.top_k,
                                 top_p=a.top_p, cond_scale=a.cond_scale)
        t1 = time.perf_counter()
        grid = codes.view(n, cfg.grid, cfg.grid)
        px = decode_pixels(m.decoder.decode_codes(grid), m.dvae_cfg.output_channels)
        rgb = torch.floor(px.permute(0, 2, 3, 1) * 255 + 0.5).to(torch.uint8).numpy()
        t2 = time.perf_counter()
    assert rgb.shape[0] == n
    print(json.dumps({"gen_s": t2 - t0, "tok_s": n * cfg.grid ** 2 / (t1 - t0)}))


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def row(name, n, runs):
    s = {k: median(runs, k) for k in ("gen_s", "tok_s", "proc_s", "cpu_s", "rss")}
    s["gen_img"] = s["gen_s"] / n
    print("| %-22s | %2d | %8.3f | %9.1f | %7.2f | %6.2f | %8.1f |"
          % (name, n, s["gen_img"], s["tok_s"], s["proc_s"], s["cpu_s"], s["rss"]))
    return s


def machine():
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return "%s, %d cores" % (cpu, os.cpu_count() or 0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("model")
    ap.add_argument("--n", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--prompt", default="red heart, twemoji style")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--top-p", type=float, default=0.0, help="(0: the model's)")
    ap.add_argument("--temperature", type=float, default=0.0, help="(0: the model's)")
    ap.add_argument("--cond-scale", type=float, default=0.0, help="guidance scale (0: the model's)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engine", default=os.path.join(REPO, "build", "dalle-vk"))
    ap.add_argument("--torch-threads", type=int, nargs="+", default=sorted({os.cpu_count() or 1, 1}, reverse=True))
    ap.add_argument("--growth", action="store_true", help="also print the decode-step growth table")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    from dallevk.gguf import GGUFReader
    reader = GGUFReader(a.model)
    # 0: the model's recommended value, passed explicitly to both sides
    for k in ("cond_scale", "temperature", "top_p"):
        if getattr(a, k) <= 0:
            setattr(a, k, float(reader.get("dalle." + k, 1.0)))
    if a.torch_worker:
        return torch_worker(a)
    devices, _, _, _, eng_base = run_child([a.engine, "--list-devices"])
    _, _, _, _, torch_base = run_child([sys.executable, "-c", "import torch"])
    print("model %s; prompt %r, seed %d, top-k %d, top-p %g, temperature %g; median of %d runs" % (
        a.model, a.prompt, a.seed, a.top_k, a.top_p, a.temperature, a.repeat))
    print("machine: %s; engine device: %s; prompt %r, cond_scale %g, top-k %d" % (
        machine(), devices.strip().splitlines()[0], a.prompt, a.cond_scale, a.top_k))
    print("baseline peak RSS: dalle-vk --list-devices %.0f MiB, python3 -c 'import torch' %.0f MiB\n"
          % (eng_base, torch_base))
    print("| implementation         |  N | gen s/img | img tok/s | proc s  | cpu s  | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.n:
            eng = row("dalle-vk (CLI)", n, [engine_once(a, n, tmp) for _ in range(a.repeat)])
            for t in a.torch_threads:
                ref = row("PyTorch, %d thread%s" % (t, "s" if t > 1 else ""), n,
                          [torch_once(a, n, t) for _ in range(a.repeat)])
                ratios.append((n, t, eng["gen_img"] / ref["gen_img"], eng["tok_s"] / ref["tok_s"],
                               eng["rss"] / ref["rss"]))
    print("\nengine / PyTorch (gen s/img: < 1 = engine faster; img tok/s: > 1 = engine faster):")
    for n, t, g, k, r in ratios:
        print("  N=%d vs %d thread%s: gen s/img x%.2f, img tok/s x%.2f, peak RSS x%.2f"
              % (n, t, "s" if t > 1 else "", g, k, r))
    if a.growth:
        bench = os.path.join(os.path.dirname(a.engine), "bench", "dalle-vk-bench")
        print("\ndecode steps (%s decode):" % bench, flush=True)
        subprocess.run([bench, "decode"], check=True)
        subprocess.run([bench, "decode", "--model", a.model], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
