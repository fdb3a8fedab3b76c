"""``crewhouse local``'s flags: sample data unless ``--empty``, kept state unless ``--fresh``."""

from crewhouse.local.cli import build_parser


def test_sample_data_and_kept_state_are_the_defaults() -> None:
    plain = build_parser().parse_args(["local"])
    assert (plain.empty, plain.fresh) == (False, False)
    both = build_parser().parse_args(["local", "--empty", "--fresh"])
    assert (both.empty, both.fresh) == (True, True)
