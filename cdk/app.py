"""`cdk synth` / `cdk deploy` entry point (see cdk.json)."""

from crewhouse_cdk.app import build_app

if __name__ == "__main__":
    build_app().synth()
