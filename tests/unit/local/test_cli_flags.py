"""``crewhouse local``'s flags: sample data unless ``--empty``, kept state unless ``--fresh``, and the files
context's multipart sizes (lowered for the browser tests only)."""

from crewhouse.local.cli import build_parser


def test_sample_data_and_kept_state_are_the_defaults() -> None:
    plain = build_parser().parse_args(["local"])
    assert (plain.empty, plain.fresh) == (False, False)
    both = build_parser().parse_args(["local", "--empty", "--fresh"])
    assert (both.empty, both.fresh) == (True, True)


def test_the_multipart_threshold_and_part_size_can_be_lowered_locally_only() -> None:
    from crewhouse.local.cli import local_config

    plain = local_config(build_parser().parse_args(["local"]))
    assert plain.function_environment == {}  # the files context's defaults (100 MiB, 16 MiB parts)
    lowered = local_config(build_parser().parse_args(
        ["local", "--multipart-threshold-mib", "8", "--multipart-part-mib", "5"]))
    assert lowered.function_environment == {"MULTIPART_THRESHOLD_BYTES": str(8 << 20),
                                            "MULTIPART_PART_BYTES": str(5 << 20)}
