"""The rule for a run's name, the same from a script's init() and from the API."""

MAX_NAME_LENGTH = 200


def name_problem(name: object) -> str | None:
    """Why ``name`` can't name a run, or None when it can."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        return f"a run's name must be a text of 1 to {MAX_NAME_LENGTH} characters"
    return None
