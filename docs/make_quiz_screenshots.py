"""Refresh the quiz screenshots in docs/img/ from the browser tests (needs /usr/bin/chromium and playwright).

python docs/make_quiz_screenshots.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOTS = {"quiz_play_phone.png": "quiz_play.png", "rate_form.png": "quiz_rate.png", "admin.png": "quiz_admin.png"}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RNAGAN_TEST_ARTIFACTS": tmp}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests/quiz/test_browser.py"]
        subprocess.run(command, cwd=ROOT, env=env, check=True)
        for name, target in SHOTS.items():
            shutil.copyfile(Path(tmp) / "quiz" / name, ROOT / "docs" / "img" / target)
            print(ROOT / "docs" / "img" / target)


if __name__ == "__main__":
    main()
