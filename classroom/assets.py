"""Solara's browser files, fetched once from the npm registry into a local cache folder.

Solara loads its JavaScript and CSS from a CDN (cdn.jsdelivr.net) through its
`/_solara/cdn` proxy. Machines without access to that CDN (a classroom behind a firewall,
our CI) get a blank page. Solara serves the same files from the folder named by
`SOLARA_ASSETS_PROXY_CACHE_DIR` when they are there, so we put them there: each package
below is the npm tarball of exactly the version Solara asks for, unpacked under the name
Solara uses in its URLs. A user with internet access does not need this; it does no harm.

Run `python -m classroom.assets` (what `make assets` does); it fetches only what is missing.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / ".cache" / "solara-cdn"
REGISTRY = "https://registry.npmjs.org"

#: Folder name in Solara's URLs -> the npm package and exact version that fills it.
#: Versions are the ones solara 1.64.1 requests (with ipyvuetify < 3, the Vue-2 app);
#: `vega@5` etc. are Solara's own floating names, pinned here to one release.
PACKAGES: dict[str, tuple[str, str]] = {
    "@widgetti/solara-vuetify-app@10.1.1": ("@widgetti/solara-vuetify-app", "10.1.1"),
    "requirejs@2.3.6": ("requirejs", "2.3.6"),
    "font-awesome@4.5.0": ("font-awesome", "4.5.0"),
    "katex@0.16.9": ("katex", "0.16.9"),
    "vega@5": ("vega", "5.33.1"),
    "vega-lite@5": ("vega-lite", "5.23.0"),
    "vega-embed@6": ("vega-embed", "6.29.0"),
}
#: A file every unpacked package has; its presence means the package is complete.
COMPLETE_MARK = "package.json"


def cache_dir() -> Path:
    """Where the files live: `SOLARA_ASSETS_PROXY_CACHE_DIR`, else `.cache/solara-cdn`."""
    configured = os.environ.get("SOLARA_ASSETS_PROXY_CACHE_DIR")
    return Path(configured) if configured else DEFAULT_CACHE


def missing(cache: Path) -> list[str]:
    """The packages not yet unpacked in `cache`."""
    return [name for name in PACKAGES if not (cache / name / COMPLETE_MARK).exists()]


def fetch_tarball(package: str, version: str) -> bytes:
    """The package's tarball, by `npm pack` when npm is installed, else from its registry URL.

    `npm pack` is the ordinary way; the registry URL is the same file, for machines without
    Node.js (a clean CI image).
    """
    npm = shutil.which("npm")
    if npm:
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([npm, "pack", f"{package}@{version}", "--silent"], cwd=tmp,
                                  capture_output=True, text=True, check=False, timeout=300)
            tarballs = list(Path(tmp).glob("*.tgz"))
            if done.returncode == 0 and tarballs:
                return tarballs[0].read_bytes()
    basename = package.rsplit("/", 1)[-1]
    url = f"{REGISTRY}/{package}/-/{basename}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def unpack(tarball: bytes, target: Path) -> None:
    """Unpack an npm tarball (files under `package/`) into `target`, all or nothing."""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            _, _, inner = member.name.partition("/")
            if not inner:
                continue
            member.name = inner
            archive.extract(member, staging, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def ensure_assets(cache: Path | None = None, log=print) -> Path:
    """Fetch every missing package into the cache folder; return the folder."""
    cache = cache or cache_dir()
    for name in missing(cache):
        package, version = PACKAGES[name]
        log(f"fetching {package}@{version} from the npm registry into {cache / name}")
        unpack(fetch_tarball(package, version), cache / name)
    return cache


def main() -> int:
    try:
        cache = ensure_assets()
    except OSError as exc:
        print(f"error: could not fetch Solara's browser files: {exc}", file=sys.stderr)
        return 1
    print(f"Solara's browser files are in {cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
