import pytest

from aiportal.env import ConfigError
from gateway.pool import Worker, workers_parse


def test_it_reads_url_at_region_entries():
    assert workers_parse("http://gpu1:8000@eu-west, http://gpu2:8000/@us-east") == [
        Worker(url="http://gpu1:8000", region="eu-west"),
        Worker(url="http://gpu2:8000", region="us-east"),
    ]


def test_an_empty_value_means_no_workers():
    assert workers_parse("") == []
    assert workers_parse(" , ") == []


def test_credentials_in_the_url_do_not_confuse_the_region():
    [worker] = workers_parse("http://user:pw@gpu1:8000@eu-west")
    assert worker.region == "eu-west"
    assert worker.url == "http://user:pw@gpu1:8000"


@pytest.mark.parametrize(
    "value",
    [
        "http://gpu1:8000",
        "gpu1:8000@eu",
        "ftp://gpu1@eu",
        "http://gpu1:8000@",
        "http://@eu",
        "http://gpu1:8000@eu west",
    ],
)
def test_it_rejects_malformed_entries_with_a_message(value):
    with pytest.raises(ConfigError, match="AIPORTAL_WORKERS"):
        workers_parse(value)


def test_it_rejects_the_same_worker_twice():
    with pytest.raises(ConfigError, match="same worker twice"):
        workers_parse("http://a:1@r1,http://a:1@r2")


def test_worker_name_is_host_and_port():
    assert Worker(url="http://gpu1:8000", region="x").name == "gpu1:8000"
