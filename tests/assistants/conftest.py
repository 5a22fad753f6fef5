"""Fixtures for the assistant tests: the chat's socket fixtures (borrowed, as the dataset
tests do), the datasets' storage folder, and one assistant of the owner's."""

from __future__ import annotations

import pytest

from tests.chat.conftest import (  # noqa: F401 -- the chat tests' fixtures, used here too
    _fresh_channel_layer,
    _no_generated_titles,
    _no_idle_sessions_left,
    no_leftover_generations,
)
from tests.datasets.conftest import datasets_dir  # noqa: F401


@pytest.fixture
def helper(owner):
    from assistants.services import assistant_create

    return assistant_create(
        user=owner,
        name="Release notes writer",
        icon="📝",
        colour="teal",
        description="Turns a list of changes into release notes.",
        system_prompt="You write release notes in the house style.",
        temperature=0.3,
        top_p=0.9,
        max_tokens=300,
        starter_prompts=["Summarise these changes", "Write a headline"],
    )
