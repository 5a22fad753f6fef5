import pytest

from common.env import ConfigError, env_bool, env_int, env_list, env_secret, env_str


@pytest.mark.parametrize("raw", ["true", "TRUE", "1", "yes", "on", " True "])
def test_env_bool_reads_true_words(raw):
    assert env_bool("FLAG", False, environ={"FLAG": raw}) is True


@pytest.mark.parametrize("raw", ["false", "0", "no", "off", "False"])
def test_env_bool_reads_false_words(raw):
    assert env_bool("FLAG", True, environ={"FLAG": raw}) is False


def test_env_bool_uses_the_default_when_unset_or_empty():
    assert env_bool("FLAG", True, environ={}) is True
    assert env_bool("FLAG", False, environ={"FLAG": ""}) is False


def test_env_bool_rejects_a_typo_naming_the_variable():
    with pytest.raises(ConfigError, match="DEBUG must be true or false, not 'ture'"):
        env_bool("DEBUG", False, environ={"DEBUG": "ture"})


def test_env_int_parses_and_checks_the_minimum():
    assert env_int("N", 5, environ={"N": "12"}) == 12
    assert env_int("N", 5, environ={}) == 5
    with pytest.raises(ConfigError, match="N must be a whole number"):
        env_int("N", 5, environ={"N": "1.5"})
    with pytest.raises(ConfigError, match="N must be at least 1, not 0"):
        env_int("N", 5, minimum=1, environ={"N": "0"})


def test_env_list_splits_on_commas_and_drops_blanks():
    assert env_list("L", environ={"L": " a, b ,,c "}) == ["a", "b", "c"]
    assert env_list("L", ["x"], environ={}) == ["x"]


def test_env_str_treats_empty_as_unset():
    assert env_str("S", "default", environ={"S": ""}) == "default"
    assert env_str("S", "default", environ={"S": "value"}) == "value"


def test_env_secret_reads_the_file_variant_and_strips_the_newline(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    assert env_secret("TOKEN", environ={"TOKEN_FILE": str(secret)}) == "s3cret-value"


def test_env_secret_prefers_nothing_when_both_are_set(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file")
    with pytest.raises(ConfigError, match="set TOKEN or TOKEN_FILE, not both"):
        env_secret("TOKEN", environ={"TOKEN": "direct", "TOKEN_FILE": str(secret)})


def test_env_secret_names_a_missing_file(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=r"TOKEN_FILE=.*cannot be read"):
        env_secret("TOKEN", environ={"TOKEN_FILE": str(missing)})


def test_env_secret_reads_the_plain_variable():
    assert env_secret("TOKEN", environ={"TOKEN": "direct"}) == "direct"
    assert env_secret("TOKEN", "fallback", environ={}) == "fallback"
