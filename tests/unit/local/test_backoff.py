from crewhouse.local.backoff import next_wait


def test_work_resets_to_the_floor_and_idleness_doubles_up_to_the_ceiling() -> None:
    assert next_wait(3, 0.4, 0.05) == 0.05
    waits = [0.05]
    for _ in range(6):
        waits.append(next_wait(0, waits[-1], 0.05, 0.5))
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


def test_a_floor_above_the_ceiling_wins() -> None:
    assert next_wait(0, 1.0, 1.0, 0.5) == 1.0
