#!/usr/bin/env python3
"""The Python side of common/tests/hub_mirror.rs: Python's own `huggingface_hub` client
and this project share one Hugging Face cache, in both directions.

  read  --cache-dir DIR --repo ID --expect-dir MODEL_DIR FILE...
        Offline (local_files_only=True), find the repo's snapshot and each FILE in the
        cache at DIR (written by the Rust downloader) and check each file's bytes against
        MODEL_DIR/FILE. Prints `commit=<hash>` and `snapshot=<folder>`.
  write --cache-dir DIR --repo ID
        Download the whole repo with snapshot_download into the cache at DIR, from the hub
        that HF_ENDPOINT names, with HF_TOKEN (the Rust test then reads it offline).
        Prints `snapshot=<folder>`.

Exit status 0 on success, 1 on a check that failed, 2 on bad arguments, 3 when
huggingface_hub is missing.
Run by the Rust test as `.venv/bin/python scripts/check_hf_cache_python.py ...`.
"""

import argparse
import os
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["read", "write"])
    p.add_argument("--cache-dir", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--expect-dir")
    p.add_argument("files", nargs="*")
    a = p.parse_intermixed_args()
    try:
        import huggingface_hub
        from huggingface_hub import hf_hub_download, snapshot_download
    except ImportError as e:
        print(
            f"huggingface_hub is not installed for {sys.executable} ({e}): run ./scripts/setup.sh",
            file=sys.stderr,
        )
        return 3
    print(f"huggingface_hub={huggingface_hub.__version__}")

    if a.mode == "write":
        folder = snapshot_download(a.repo, cache_dir=a.cache_dir)
        print(f"snapshot={folder}")
        return 0

    if not a.expect_dir or not a.files:
        print("read needs --expect-dir and at least one FILE", file=sys.stderr)
        return 1
    folder = snapshot_download(a.repo, cache_dir=a.cache_dir, local_files_only=True)
    commit = os.path.basename(os.path.normpath(folder))
    ref = os.path.join(a.cache_dir, "models--" + a.repo.replace("/", "--"), "refs", "main")
    with open(ref) as f:
        if f.read().strip() != commit:
            print(f"refs/main does not name the snapshot {commit}", file=sys.stderr)
            return 1
    for name in a.files:
        path = hf_hub_download(a.repo, name, cache_dir=a.cache_dir, local_files_only=True)
        if os.path.dirname(os.path.abspath(path)) != os.path.abspath(folder):
            print(f"{name} resolved to {path}, outside the snapshot {folder}", file=sys.stderr)
            return 1
        with open(path, "rb") as f:
            got = f.read()
        with open(os.path.join(a.expect_dir, name), "rb") as f:
            want = f.read()
        if got != want:
            print(f"{name}: {len(got)} bytes in the cache differ from {len(want)} expected", file=sys.stderr)
            return 1
        print(f"ok {name} {len(got)} bytes")
    print(f"commit={commit}")
    print(f"snapshot={folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
