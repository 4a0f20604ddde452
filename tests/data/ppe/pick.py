"""Re-make the PPE sample: python tests/data/ppe/pick.py ../shared/data/construction-site-safety"""

import shutil
import sys
from pathlib import Path

MIN_PX = 48  # a head box's longest side, in pixels of the 640×640 photos


def main() -> None:
    src = Path(sys.argv[1]) / "valid"
    out = Path(__file__).resolve().parent / "valid"
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    no, yes = [], []
    for f in sorted((src / "labels").glob("*.txt")):
        rows = [ln.split() for ln in f.read_text().splitlines() if ln.strip()]

        def big(cls: str, rows: list[list[str]] = rows) -> bool:
            return any(r[0] == cls and max(float(r[3]), float(r[4])) * 640 >= MIN_PX for r in rows)

        if big("2"):  # NO-Hardhat
            no.append(f)
        elif big("0"):  # Hardhat
            yes.append(f)
    for f in no[:12] + yes[:12]:
        image = next((src / "images").glob(f.stem + ".*"))
        shutil.copy(image, out / "images")
        shutil.copy(f, out / "labels")
    print(f"{len(no)} photos with NO-Hardhat, {len(yes)} with Hardhat only; copied 12 + 12")


if __name__ == "__main__":
    main()
