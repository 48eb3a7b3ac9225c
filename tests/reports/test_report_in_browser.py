"""The report rendered by a real browser (headless Chromium): every figure loads.

Needs Chromium (Debian: `apt-get install -y chromium`); skipped with that advice when it is absent.
"""
import re
import shutil
import subprocess

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
PROBE = """<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const loaded = images.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0);
  document.title = 'figures loaded: ' + loaded.length + ' of ' + images.length;
});
</script>"""


@pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed (Debian: apt-get install -y chromium)")
def test_every_figure_of_the_report_loads_in_a_browser(tiny_run, tmp_path):
    text = (tiny_run / "report" / "report.html").read_text()
    figures = text.count('src="data:image/png;base64,')
    assert figures >= 4
    page = tmp_path / "report.html"
    page.write_text(text.replace("</body>", PROBE + "</body>"))
    result = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    title = re.search(r"<title>(.*?)</title>", result.stdout)
    assert title is not None, result.stdout[:2000]
    assert title.group(1) == f"figures loaded: {figures} of {figures}"
