"""`make tensorboard-screenshots`: a real TensorBoard page showing nnlab runs, for README.

Runs `nnlab mnist --tensorboard` and `nnlab sweep mnist ... --tensorboard` on the bundled mnist-5k digits, starts
`tensorboard --logdir` on 127.0.0.1, and takes two screenshots in headless Chromium (Debian's `chromium` package):
the mnist run's scalars and the sweep's HParams table. The pictures go to docs/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).parent
BIN = Path(sys.executable).parent
MNIST = ["mnist", "--dataset", "mnist-5k", "--epochs", "3", "--quiet"]
SWEEP = ["sweep", "mnist", "dataset=mnist-5k", "model=conv", "lr=0.005,0.01,0.03", "epochs=2", "seed=0-2", "--quiet"]
CHROMIUM_OPTIONS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1500,1000"]
CHROMIUM_OPTIONS += ["--virtual-time-budget=15000"]  # TensorBoard is a JavaScript page: let it load its data
PAGES = {  # picture: the folder of OUT/tensorboard/ that TensorBoard is started on, and its page
    "tensorboard_scalars.png": ("mnist", "#scalars"),
    "tensorboard_hparams.png": ("sweep/mnist", "#hparams"),
}


def run(args: list[str], out: Path) -> None:
    subprocess.run([str(BIN / "nnlab"), *args, "--tensorboard", "--out", str(out)], check=True)


def serve(logdir: Path) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [str(BIN / "tensorboard"), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    while not (found := re.search(r"http://127\.0\.0\.1:\d+/", seen)):
        line = server.stderr.readline()
        if not line and server.poll() is not None:
            raise SystemExit(f"tensorboard did not start: {seen}")
        seen += line
    address = found.group(0)
    for _ in range(100):  # until it has read the event files
        with urllib.request.urlopen(address + "data/runs", timeout=10) as response:
            if len(response.read()) > 10:
                break
        time.sleep(0.2)
    return server, address


def screenshot(url: str, path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, *CHROMIUM_OPTIONS, f"--user-data-dir={profile}", f"--screenshot={path}", url],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
    with Image.open(path) as image:
        image.convert("RGB").resize((1200, 800)).save(path, optimize=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        run(MNIST, out)
        run(SWEEP, out)
        for name, (logdir, page) in PAGES.items():
            server, address = serve(out / "tensorboard" / logdir)
            try:
                screenshot(address + page, DOCS / name)
            finally:
                server.terminate()
                server.wait(timeout=30)
            print(f"wrote {DOCS / name}")


if __name__ == "__main__":
    main()
