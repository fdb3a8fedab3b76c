"""Tags as tasks and notes store them: trimmed, without a leading ``#``, lower case, each once, in order."""


def normalise_tags(tags: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = tag.strip().lstrip("#").lower()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)
