from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"
STATEMACHINES_DIR = ROOT / "statemachines"
BUILD_DIR = ROOT / "build"
