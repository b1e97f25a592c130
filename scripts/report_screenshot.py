"""Opens a report's `report.html` in headless Chromium, offline, and screenshots it.

Checks what a reader sees: the page renders with the network blocked (every
host resolves to nothing), every figure it references loads (read from the
DOM Chromium built, after layout), and the screenshot is not blank.

    apt-get install chromium            # Debian's package
    keras-invariance report --quick --output-dir /tmp/report
    python scripts/report_screenshot.py /tmp/report       # writes /tmp/report/screenshot.png

Not a unit test: it needs a browser the test suite does not.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

#: Chromium flags for a reproducible, offline, headless render.
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no network at all
    # No background traffic (refused on a closed network, slow to time out).
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--allow-file-access-from-files", "--virtual-time-budget=5000",
]

# Replaces each <img> by a marker saying whether it decoded (naturalWidth > 0).
_PROBE = """
<script>
window.addEventListener('load', () => {
  for (const img of Array.from(document.images)) {
    const mark = document.createElement('span');
    mark.className = 'probe';
    mark.textContent = (img.naturalWidth > 0 ? 'LOADED ' : 'MISSING ') + img.getAttribute('src');
    img.after(mark);
  }
});
</script>
"""


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("no Chromium found: apt-get install chromium")


def image_status(browser, page):
    """`{src: loaded?}` for every <img> of `page`, from Chromium's DOM."""
    html = open(page, encoding="utf-8").read()
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=os.path.dirname(page),
                                     delete=False, encoding="utf-8") as probe:
        probe.write(html.replace("</body>", _PROBE + "</body>"))
    try:
        dom = subprocess.run([browser, *FLAGS, "--dump-dom", f"file://{probe.name}"],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        os.unlink(probe.name)
    return {src: state == "LOADED"
            for state, src in re.findall(r'class="probe">(LOADED|MISSING) ([^<]+)<', dom)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", help="a report's --output-dir")
    parser.add_argument("--screenshot", default=None, help="default OUTPUT_DIR/screenshot.png")
    parser.add_argument("--width", type=int, default=1300)
    parser.add_argument("--height", type=int, default=3200)
    args = parser.parse_args(argv)
    page = os.path.abspath(os.path.join(args.output_dir, "report.html"))
    if not os.path.isfile(page):
        sys.exit(f"no report.html in {args.output_dir}")
    browser = find_chromium()
    # A fresh, empty profile per run (no state from an earlier one).
    FLAGS.append(f"--user-data-dir={tempfile.mkdtemp(prefix='report_screenshot_')}")
    shot = os.path.abspath(args.screenshot or os.path.join(args.output_dir, "screenshot.png"))
    subprocess.run([browser, *FLAGS, f"--window-size={args.width},{args.height}",
                    f"--screenshot={shot}", f"file://{page}"],
                   check=True, capture_output=True, timeout=120)
    status = image_status(browser, page)
    missing = [src for src, ok in status.items() if not ok]

    from matplotlib import image as mpimg

    pixels = mpimg.imread(shot)
    blank = float(pixels[..., :3].std()) < 1e-3
    print(f"screenshot {shot} ({pixels.shape[1]}×{pixels.shape[0]})")
    print(f"{len(status) - len(missing)}/{len(status)} figures loaded offline")
    if missing or blank or not status:
        sys.exit(f"problem: missing figures {missing}" if missing else "problem: blank page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
