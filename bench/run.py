#!/usr/bin/env python3
"""piprep benchmark (`make bench`): ratios against baselines measured in the
same run, medians of 5, written to target/bench/results.json.

Fleet bake (issue 6), on a 2 GiB image holding ~1.2 GiB of incompressible data:
  * `piprep bake --all` for 8 nodes vs a shell baseline doing the same work per
    node: `cp --sparse=always` of the base plus `mcopy` of a script and a
    rewritten cmdline.txt, then `sync` (piprep fsyncs every output, so both
    end with the images on disk). Target: piprep <= 0.9x the baseline.
  * per-node marginal cost (t8 - t1) / 7 vs one `cp --sparse=always` + `sync`.
    Target <= 1.05x.
  * the FAT edit alone, per node (from `bake --timings`). Target < 50 ms.
  * peak RSS of `bake --all` (/usr/bin/time -v). Target <= 64 MiB.
Fetch (issue 5):
  * decompression of a multi-block .img.xz into an image file on disk:
    `piprep fetch` of a local .xz on first use (sparse output, the .xz hashed
    for its cache key, fsync) vs
    `xz -dc -T0 > file; sync`. Target: piprep >= 1.3x faster. (`xz -dc -T0 >
    /dev/null`, which writes nothing, is reported too.)
  * download over loopback: `piprep fetch` vs `curl -o`.
"""
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
WORK = TOP / "target" / "bench"
PIPREP = TOP / "target" / "release" / "piprep"
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
NODES = 8
FILL_MIB = int(os.environ.get("BENCH_FILL_MIB", "1229"))  # ~1.2 GiB
ENV = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, env=ENV, **kw)


def timed(fn):
    subprocess.run(["sync"])
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median(xs):
    return statistics.median(xs)


def inventory(d: Path, image: Path, nodes: int):
    t = f'''[cluster]
name = "bench"
subnet = "10.1.1.0/24"
gateway = "10.1.1.1"
dns = ["10.1.1.1"]

[image]
path = "{image}"

[user]
name = "k8s"
ssh_authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH8mw9FwgPnvoajueAinQwgF3d3F0ZM4SGn+9NF5rkkd b@x"]
'''
    for i in range(nodes):
        t += f'\n[[node]]\nname = "n{i}"\nip = "10.1.1.{11 + i}"\nrole = "{"control-plane" if i == 0 else "worker"}"\n'
    (d / "piprep.toml").write_text(t)


def base_image() -> Path:
    img = WORK / f"base-{FILL_MIB}.img"
    if not img.exists():
        print(f"building the {FILL_MIB} MiB-filled sample image…", file=sys.stderr)
        sh([str(TOP / "tests/support/mkimage.sh"), "--fill-mib", str(FILL_MIB), "--root-mib", str(FILL_MIB + 480), "--fat-mib", "256", "bookworm", str(img)])
    return img


def fat_offset(img: Path) -> int:
    out = subprocess.run(["sfdisk", "--json", str(img)], capture_output=True, check=True, env=ENV).stdout
    return json.loads(out)["partitiontable"]["partitions"][0]["start"] * 512


def bench_bake():
    base = base_image()
    d8, d1 = WORK / "fleet8", WORK / "fleet1"
    for d, n in ((d8, NODES), (d1, 1)):
        d.mkdir(parents=True, exist_ok=True)
        inventory(d, base, n)
    # What the baseline copies onto each card: the node's script and cmdline.
    ref = WORK / "rendered"
    shutil.rmtree(ref, ignore_errors=True)
    sh([str(PIPREP), "-q", "--config", str(d8 / "piprep.toml"), "render", "--node", "n0", "--image", str(base), "--out", str(ref)], cwd=d8)
    off = fat_offset(base)
    cache = WORK / "cache"

    def piprep_bake(d, out):
        shutil.rmtree(out, ignore_errors=True)
        sh([str(PIPREP), "-q", "--cache-dir", str(cache), "bake", "--all", "--out", str(out), "--timings", str(d / "timings.json")], cwd=d)

    def baseline(out):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        for i in range(NODES):
            img = out / f"n{i}.img"
            sh(["cp", "--sparse=always", str(base), str(img)])
            sh(["mcopy", "-o", "-i", f"{img}@@{off}", str(ref / "piprep-run.sh"), str(ref / "cmdline.txt"), "::/"])
        sh(["sync"])

    def one_cp(out):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        sh(["cp", "--sparse=always", str(base), str(out / "one.img")])
        sh(["sync"])

    piprep_bake(d8, d8 / "out")  # warm the page cache and the base digest memo
    t8, tb, t1, tcp, fat, rss = [], [], [], [], [], []
    for r in range(RUNS):
        t8.append(timed(lambda: piprep_bake(d8, d8 / "out")))
        fat += [v["fat_edit_ms"] for v in json.loads((d8 / "timings.json").read_text()).values()]
        tb.append(timed(lambda: baseline(WORK / "baseline")))
        t1.append(timed(lambda: piprep_bake(d1, d1 / "out")))
        tcp.append(timed(lambda: one_cp(WORK / "onecp")))
        print(f"  run {r + 1}: piprep x{NODES} {t8[-1]:.2f} s, baseline {tb[-1]:.2f} s, piprep x1 {t1[-1]:.2f} s, cp {tcp[-1]:.2f} s", file=sys.stderr)
    shutil.rmtree(d8 / "out", ignore_errors=True)
    v = subprocess.run(["/usr/bin/time", "-v", str(PIPREP), "-q", "--cache-dir", str(cache), "bake", "--all", "--out", str(d8 / "out")], cwd=d8, capture_output=True, text=True, env=ENV)
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", v.stderr).group(1))
    for p in (d8 / "out", d1 / "out", WORK / "baseline", WORK / "onecp"):
        shutil.rmtree(p, ignore_errors=True)
    m8, mb, m1, mcp = map(median, (t8, tb, t1, tcp))
    marginal = (m8 - m1) / (NODES - 1)
    return {
        "image_bytes": base.stat().st_size,
        "image_allocated_bytes": base.stat().st_blocks * 512,
        "bake_all_8_s": m8,
        "baseline_8_s": mb,
        "ratio_bake_vs_baseline": m8 / mb,
        "target_ratio_bake_vs_baseline": 0.9,
        "bake_1_s": m1,
        "marginal_per_node_s": marginal,
        "cp_sparse_one_s": mcp,
        "ratio_marginal_vs_cp": marginal / mcp,
        "target_ratio_marginal_vs_cp": 1.05,
        "fat_edit_ms_median": median(fat),
        "fat_edit_ms_max": max(fat),
        "target_fat_edit_ms": 50,
        "peak_rss_mib": rss_kib / 1024,
        "target_peak_rss_mib": 64,
        "runs": {"bake_all_8": t8, "baseline_8": tb, "bake_1": t1, "cp_sparse_one": tcp},
    }


def bench_fetch():
    base = base_image()
    xz = WORK / f"base-{FILL_MIB}.img.xz"
    if not xz.exists():
        print("compressing the sample image (multi-block .xz)…", file=sys.stderr)
        with open(str(xz) + ".tmp", "wb") as f:
            sh(["xz", "-T0", "-1", "--block-size=64MiB", "-c", str(base)], stdout=f)
        os.rename(str(xz) + ".tmp", xz)

    def piprep_unpack():
        c = WORK / "fetch-cache"
        shutil.rmtree(c, ignore_errors=True)
        sh([str(PIPREP), "-q", "--cache-dir", str(c), "fetch", "--image", str(xz)], stdout=subprocess.DEVNULL)

    def xz_unpack():
        sh(["sh", "-c", f"xz -dc -T0 '{xz}' >'{WORK}/xz-out.img' && sync"])

    def xz_null():
        sh(["sh", "-c", f"xz -dc -T0 '{xz}' >/dev/null"])

    # Download over loopback: a raw .img served by a local HTTP server.
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: Quiet(*a, directory=str(WORK), **k))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/{base.name}"
    sha = subprocess.run(["sha256sum", str(base)], capture_output=True, text=True, check=True).stdout.split()[0]

    def piprep_download():
        c = WORK / "dl-cache"
        shutil.rmtree(c, ignore_errors=True)
        d = WORK / "dl"
        d.mkdir(exist_ok=True)
        (d / "piprep.toml").write_text(f'[cluster]\nname = "b"\nsubnet = "10.1.1.0/24"\ngateway = "10.1.1.1"\ndns = ["10.1.1.1"]\n[image]\nurl = "{url}"\nsha256 = "{sha}"\n[user]\nname = "k"\nssh_authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH8mw9FwgPnvoajueAinQwgF3d3F0ZM4SGn+9NF5rkkd b@x"]\n[[node]]\nname = "a"\nip = "10.1.1.11"\nrole = "control-plane"\n')
        sh([str(PIPREP), "-q", "--cache-dir", str(c), "fetch"], cwd=d, stdout=subprocess.DEVNULL)

    def curl_download():
        sh(["curl", "-s", "-o", str(WORK / "curl.img"), url])

    piprep_unpack()
    xz_unpack()
    tp, tx, tn, td, tc = [], [], [], [], []
    for r in range(RUNS):
        tp.append(timed(piprep_unpack))
        tx.append(timed(xz_unpack))
        tn.append(timed(xz_null))
        td.append(timed(piprep_download))
        tc.append(timed(curl_download))
        print(f"  run {r + 1}: unpack piprep {tp[-1]:.2f} s, xz {tx[-1]:.2f} s; download piprep {td[-1]:.2f} s, curl {tc[-1]:.2f} s", file=sys.stderr)
    srv.shutdown()
    for p in ("fetch-cache", "dl-cache", "curl.img", "xz-out.img"):
        shutil.rmtree(WORK / p, ignore_errors=True) if (WORK / p).is_dir() else (WORK / p).unlink(missing_ok=True)
    mp, mx, mn, md, mc = map(median, (tp, tx, tn, td, tc))
    size = base.stat().st_size
    return {
        "xz_bytes": xz.stat().st_size,
        "raw_bytes": size,
        "unpack_piprep_s": mp,
        "unpack_xz_T0_s": mx,
        "unpack_xz_T0_to_devnull_s": mn,
        "speedup_unpack_vs_xz": mx / mp,
        "target_speedup_unpack_vs_xz": 1.3,
        "unpack_piprep_raw_MBps": size / mp / 1e6,
        "download_piprep_s": md,
        "download_curl_s": mc,
        "ratio_download_vs_curl": md / mc,
        "download_piprep_MBps": size / md / 1e6,
        "runs": {"unpack_piprep": tp, "unpack_xz": tx, "unpack_xz_devnull": tn, "download_piprep": td, "download_curl": tc},
    }


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    fs = subprocess.run(["df", "-T", str(WORK)], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "filesystem": fs, "runs": RUNS}


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    what = sys.argv[1:] or ["bake", "fetch"]
    res = {"machine": machine()}
    if "bake" in what:
        res["bake"] = bench_bake()
    if "fetch" in what:
        res["fetch"] = bench_fetch()
    (WORK / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    m = res["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores, {m['filesystem']}, median of {RUNS} runs")
    if "bake" in res:
        b = res["bake"]
        print(f"bake --all (8 nodes)   {b['bake_all_8_s']:.2f} s vs baseline {b['baseline_8_s']:.2f} s  ratio {b['ratio_bake_vs_baseline']:.2f} (target <= 0.90)")
        print(f"per-node marginal      {b['marginal_per_node_s']:.2f} s vs cp --sparse=always {b['cp_sparse_one_s']:.2f} s  ratio {b['ratio_marginal_vs_cp']:.2f} (target <= 1.05)")
        print(f"FAT edit per node      {b['fat_edit_ms_median']:.1f} ms median, {b['fat_edit_ms_max']:.1f} ms max (target < 50)")
        print(f"peak RSS bake --all    {b['peak_rss_mib']:.1f} MiB (target <= 64)")
    if "fetch" in res:
        f = res["fetch"]
        print(f"unpack .xz to disk     {f['unpack_piprep_s']:.2f} s vs xz -dc -T0 >file {f['unpack_xz_T0_s']:.2f} s  speedup {f['speedup_unpack_vs_xz']:.2f}x (target >= 1.3); xz to /dev/null {f['unpack_xz_T0_to_devnull_s']:.2f} s")
        print(f"download (loopback)    {f['download_piprep_s']:.2f} s vs curl {f['download_curl_s']:.2f} s  ratio {f['ratio_download_vs_curl']:.2f}")
    print(f"results: {WORK / 'results.json'}")


if __name__ == "__main__":
    main()
