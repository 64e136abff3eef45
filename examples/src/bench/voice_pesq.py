#!/usr/bin/env python3
"""PESQ-WB of voice-lab on real recorded speech, beside plain libopus.

Needs: Debian's sox, pocketsphinx-testdata and alsa-utils (real recorded
speech: two LibriVox readings and the ALSA channel-name recordings), PyPI's
pesq, numpy and scipy. Builds nothing: pass the voice-lab binary.

    apt-get install -y sox pocketsphinx-testdata alsa-utils
    pip install pesq numpy scipy
    cargo build --release -p aura-examples --bin voice-lab
    python3 examples/src/bench/voice_pesq.py --lab target/release/voice-lab

Prints one markdown row per (loss, burst): PESQ-WB of Aura's pipeline and of
plain libopus (same bitrate, 20 ms frames, same loss pattern, classic PLC),
mean over the samples and seeds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np
from pesq import pesq
from scipy.io import wavfile
from scipy.signal import resample_poly

LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-{}.wav"
ALSA = "/usr/share/sounds/alsa/{}.wav"
ALSA_NAMES = ["Front_Left", "Front_Center", "Front_Right", "Side_Left",
              "Side_Right", "Rear_Left", "Rear_Center", "Rear_Right"]


def samples(workdir):
    """The test speech as 48 kHz mono 16-bit WAV files."""
    out = []
    for n in ["0870", "0920"]:
        dst = os.path.join(workdir, f"librivox-{n}.wav")
        subprocess.run(["sox", LIBRIVOX.format(n), "-r", "48000", "-b", "16", "-c", "1", dst],
                       check=True)
        out.append(dst)
    dst = os.path.join(workdir, "alsa-voices.wav")
    subprocess.run(["sox"] + [ALSA.format(n) for n in ALSA_NAMES]
                   + ["-r", "48000", "-b", "16", "-c", "1", dst], check=True)
    out.append(dst)
    return out


def wb(path):
    rate, x = wavfile.read(path)
    x = x.astype(np.float64)
    if rate != 16000:
        x = resample_poly(x, 1, rate // 16000)
    return x


def score(ref, deg):
    r, d = wb(ref), wb(deg)
    n = min(len(r), len(d))
    return pesq(16000, r[:n], d[:n], "wb")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab", required=True, help="voice-lab binary")
    ap.add_argument("--losses", default="0,5,10,20")
    ap.add_argument("--bursts", default="1,2")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--jitter-ms", default="0")
    ap.add_argument("--extra", default="", help="more voice-lab arguments")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="voice-pesq-")
    files = samples(work)
    rows = []
    for burst in a.bursts.split(","):
        for loss in a.losses.split(","):
            if float(loss) == 0 and burst != a.bursts.split(",")[0]:
                continue
            aura, base, kbps, lat = [], [], set(), []
            for seed in a.seeds.split(","):
                for f in files:
                    out = f[:-4] + f"-{loss}-{burst}-{seed}.out.wav"
                    cmd = [a.lab, "--input", f, "--output", out, "--loss", loss,
                           "--burst", burst, "--seed", seed, "--jitter-ms", a.jitter_ms,
                           "--baseline", "--json"] + a.extra.split()
                    rep = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                                    text=True).stdout)
                    aura.append(score(f, out))
                    base.append(score(f, rep["baseline_output"]))
                    kbps.add(round(rep["bitrate_mean_bps"] / 1000))
                    lat.append(rep["latency_p99_ms"])
            row = {"loss": float(loss), "burst": float(burst),
                   "aura": statistics.mean(aura), "baseline": statistics.mean(base),
                   "aura_min": min(aura), "kbps": sorted(kbps), "latency_p99_ms": max(lat)}
            rows.append(row)
            if a.json:
                print(json.dumps(row), flush=True)
            else:
                print(f"| {loss} % | {burst} | {row['aura']:.2f} | {row['aura_min']:.2f} "
                      f"| {row['baseline']:.2f} | {'/'.join(map(str, row['kbps']))} "
                      f"| {row['latency_p99_ms']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
