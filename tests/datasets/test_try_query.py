"""The dataset page's "Try a query" box: ranked passages with their scores, for the owner and
a member with query access; nothing for a member who may only view; a 404 for an outsider;
and passages (documents' text) escaped, never markup."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from datasets.models import Level
from datasets.services import grant_set

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> zebrafish rules'
FILES = {
    "vacation.txt": "Vacation. Thirty days of zebrafish leave a year.",
    "travel.txt": "Travel. Take the train.",
    "evil.html": "<html><head><title>Zebrafish <b>bold</b> title</title></head><body><pre>"
    + HOSTILE.replace("<", "&lt;")
    + "</pre></body></html>",
}


@pytest.fixture
def handbook(dataset, upload, refill_now):
    upload(dataset, FILES)
    refill_now(dataset)
    return dataset


def _try(user, dataset, query: str):
    client = Client()
    client.force_login(user)
    return client.get(reverse("datasets:detail", args=[dataset.pk]), {"q": query})


def test_the_owner_sees_ranked_passages_with_scores_the_method_and_text_escaped(handbook, owner):
    response = _try(owner, handbook, "zebrafish leave")
    assert response.status_code == 200
    tried = response.context["tried"]
    assert tried[0].hit.key == "upload:vacation.txt"
    assert [p.rank for p in tried] == list(range(1, len(tried) + 1))
    assert tried[0].hit.score >= tried[-1].hit.score
    html = response.content.decode()
    assert 'id="try-results"' in html and "ranked by: Full-text" in html
    assert "Thirty days of zebrafish leave a year." in html

    # Passages and titles are documents' text: escaped, never markup.
    html = _try(owner, handbook, "zebrafish rules").content.decode()
    assert "zebrafish rules" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html

    response = _try(owner, handbook, "quantum chromodynamics")
    assert response.context["tried"] == []
    assert "No passage matches this query." in response.content.decode()


def test_query_access_may_try_view_access_sees_no_box_an_outsider_gets_404(
    handbook, owner, member, outsider
):
    grant_set(dataset=handbook, user=owner, for_user=member, level=Level.VIEW)
    response = _try(member, handbook, "zebrafish")
    assert response.status_code == 200
    assert 'id="try"' not in response.content.decode() and response.context["tried"] is None

    grant_set(dataset=handbook, user=owner, for_user=member, level=Level.QUERY)
    response = _try(member, handbook, "zebrafish")
    assert 'id="try"' in response.content.decode() and response.context["tried"]

    assert _try(outsider, handbook, "zebrafish").status_code == 404
