"""Settings precedence: argument > configure() > environment > default."""

import re
import sys
import types

import openai
import pytest

from ling_notebook import config
from ling_notebook.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for name in ("LING_API_KEY", "ANT_LING_API_KEY", "LING_BASE_URL", "LING_MODEL", "LING_TIMEOUT", "MY_KEY"):
        monkeypatch.delenv(name, raising=False)
    saved = dict(config._configured)
    config._configured.clear()
    yield
    config._configured.clear()
    config._configured.update(saved)


def test_defaults_are_the_ant_ling_api(monkeypatch):
    monkeypatch.setenv("LING_API_KEY", "sk-env")
    s = config.resolve()
    assert (s.base_url, s.model, s.timeout) == ("https://api.ant-ling.com/v1", "Ling-2.6-flash", 60.0)
    assert s.sources["model"] == "default"


def test_environment_beats_default(monkeypatch):
    monkeypatch.setenv("LING_API_KEY", "sk-env")
    monkeypatch.setenv("LING_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("LING_MODEL", "env-model")
    s = config.resolve()
    assert (s.base_url, s.model, s.api_key) == ("http://127.0.0.1:9/v1", "env-model", "sk-env")
    assert s.sources["base_url"] == "LING_BASE_URL"


def test_configure_beats_environment_and_argument_beats_configure(monkeypatch):
    monkeypatch.setenv("LING_MODEL", "env-model")
    monkeypatch.setenv("LING_API_KEY", "sk-env")
    config.configure(model="configured-model")
    assert config.resolve().model == "configured-model"
    assert config.resolve(model="arg-model").model == "arg-model"
    config.configure(model=None)
    assert config.resolve().model == "env-model"


def test_ant_ling_api_key_is_accepted(monkeypatch):
    monkeypatch.setenv("ANT_LING_API_KEY", "sk-ant")
    s = config.resolve()
    assert s.api_key == "sk-ant" and s.key_source == "ANT_LING_API_KEY"


def test_api_key_env_names_the_variable(monkeypatch):
    monkeypatch.setenv("LING_API_KEY", "sk-default")
    monkeypatch.setenv("MY_KEY", "sk-mine")
    assert config.resolve(api_key_env="MY_KEY").api_key == "sk-mine"


def test_missing_key_says_which_variable_to_set():
    with pytest.raises(ConfigurationError, match="LING_API_KEY"):
        config.resolve()


def test_missing_named_key_variable_is_named():
    with pytest.raises(ConfigurationError, match="MY_KEY"):
        config.resolve(api_key_env="MY_KEY")


def test_loopback_servers_need_no_key():
    assert config.resolve(base_url="http://127.0.0.1:8000/v1").api_key
    assert config.resolve(base_url="http://localhost:11434/v1").api_key


def test_key_is_not_in_repr(monkeypatch):
    monkeypatch.setenv("LING_API_KEY", "sk-secret-value")
    assert "sk-secret-value" not in repr(config.resolve())


@pytest.mark.parametrize(
    "name, value, message",
    [("timeout", "soon", "number of seconds"), ("timeout", -1, "more than 0"), ("base_url", "api.x", "http"),
     ("max_retries", "x", "whole number"), ("model", "  ", "empty")],
)
def test_bad_values_are_explained(name, value, message):
    with pytest.raises(ConfigurationError, match=message):
        config.configure(**{name: value})


def test_unknown_setting_lists_the_known_ones():
    with pytest.raises(ConfigurationError, match="Known settings: .*base_url"):
        config.configure(colour="blue")


def test_a_users_client_is_used_as_is():
    client = openai.AsyncOpenAI(api_key="sk-client", base_url="http://127.0.0.1:1/v1")
    s = config.resolve(client=client)
    assert s.client is client and s.base_url == "http://127.0.0.1:1/v1" and s.sources["base_url"] == "client"


# --- the key rule: stripped; a key with a control character inside is refused without being shown -----------

BAD_KEY = "sk-pasted-7f3a\nsecond-line"


@pytest.mark.parametrize("variable", ["LING_API_KEY", "ANT_LING_API_KEY"])
def test_a_key_from_the_environment_is_stripped(monkeypatch, variable):
    monkeypatch.setenv(variable, "  sk-env-padded\n")
    assert config.resolve().api_key == "sk-env-padded"


def test_keys_from_configure_and_arguments_are_stripped():
    assert config.resolve(api_key="\tsk-argument \r\n").api_key == "sk-argument"
    config.configure(api_key=" sk-configured\n")
    assert config.resolve().api_key == "sk-configured"


def test_a_whitespace_only_key_counts_as_not_set(monkeypatch):
    monkeypatch.setenv("LING_API_KEY", " \n")
    with pytest.raises(ConfigurationError, match="No API key found"):
        config.resolve()


@pytest.mark.parametrize("variable", ["LING_API_KEY", "ANT_LING_API_KEY", "MY_KEY"])
@pytest.mark.parametrize("key", [BAD_KEY, "sk-tab\there", "sk-esc\x1bx", "sk-del\x7fx", "sk-naïve-key"])
def test_a_key_with_a_control_character_inside_names_the_variable_not_the_key(monkeypatch, variable, key):
    monkeypatch.setenv(variable, key)
    with pytest.raises(ConfigurationError) as caught:
        config.resolve(api_key_env=variable if variable == "MY_KEY" else None)
    message = str(caught.value)
    assert variable in message and "\n" not in message and key[:6] not in message


@pytest.mark.parametrize("where, call", [
    ("api_key argument", lambda: config.resolve(api_key=BAD_KEY)),
    ("configure(api_key=...)", lambda: config.configure(api_key=BAD_KEY)),
])
def test_a_bad_key_argument_is_refused_by_where_it_came_from(where, call):
    with pytest.raises(ConfigurationError, match=re.escape(where)) as caught:
        call()
    assert "sk-pasted" not in str(caught.value) and "second-line" not in repr(caught.value)


def test_request_options_are_session_defaults_that_a_request_overrides():
    local = {"base_url": "http://127.0.0.1:9/v1"}
    assert config.resolve(**local).params == {}
    config.configure(temperature="0.2", max_tokens=40)
    assert config.resolve(**local).params == {"temperature": 0.2, "max_tokens": 40}
    from ling_notebook.reply import Reply

    reply = Reply([{"role": "user", "content": "hi"}], config.resolve(**local), params={"temperature": 0.9})
    assert reply._params == {"temperature": 0.9, "max_tokens": 40}
    rows = {name: (value, source) for name, value, source in config.describe()}
    assert rows["temperature"] == ("0.2", "configured") and rows["top_p"] == ("–", "the server's default")
    config.configure(temperature=None)
    assert config.resolve(**local).params == {"max_tokens": 40}


@pytest.mark.parametrize("name, value, message", [
    ("temperature", 2.5, "temperature must be between 0 and 2, not 2.5."),
    ("top_p", "x", "top_p must be a number from 0 to 1."),
    ("max_tokens", 0, "max_tokens must be 1 or more (a whole number), not 0."),
    ("max_tokens", 2.5, "max_tokens must be 1 or more (a whole number), not 2.5."),
])
def test_request_options_are_checked_once_for_every_way_in(name, value, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        config.configure(**{name: value})
    with pytest.raises(ConfigurationError, match=re.escape(message.replace(name, "--" + name.replace("_", "-")))):
        config.request_params({name: value}, flags=True)


def test_a_misspelt_setting_gets_a_suggestion():
    with pytest.raises(ConfigurationError, match=re.escape("'tmeout' (did you mean timeout?)")):
        config.configure(tmeout=5)
    assert config.suggest("zzz", config.OPTIONS) == ""


def test_background_is_the_default_outside_colab_and_configure_turns_it_off():
    assert config.resolve(base_url="http://127.0.0.1:9/v1").background is True
    config.configure(background="false")
    assert config.resolve(base_url="http://127.0.0.1:9/v1").background is False
    assert ("background", "False", "configured") in config.describe()
    with pytest.raises(ConfigurationError, match=r"^background must be true or false\.$"):
        config.configure(background="sk-not-a-bool")


@pytest.fixture
def stand_in_colab(tmp_path, monkeypatch):
    """A `google.colab` package that is importable, as on a Colab runtime (not imported yet)."""
    (tmp_path / "google" / "colab").mkdir(parents=True)
    (tmp_path / "google" / "colab" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("google.colab", "google"):
        sys.modules.pop(name, None)


def test_in_colab_the_cell_waits_unless_configured_otherwise(stand_in_colab):
    assert "google.colab" not in sys.modules and config.in_colab()
    settings = config.resolve(base_url="http://127.0.0.1:9/v1")
    assert settings.background is False and settings.sources["background"] == "Google Colab"
    assert ("background", "False", "Google Colab") in config.describe()
    config.configure(background=True)
    assert config.resolve(base_url="http://127.0.0.1:9/v1").background is True
    assert config.resolve(base_url="http://127.0.0.1:9/v1", background=False).background is False


def test_colab_is_detected_from_an_imported_module_alone(monkeypatch):
    assert not config.in_colab()
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert config.in_colab()


@pytest.mark.parametrize(("given", "fields"), [
    ({}, {}),
    ({"search": False}, {}),
    ({"search": True}, {"enable_search": True}),
    ({"effort": "high"}, {"reasoning": {"effort": "high"}}),
    ({"search": True, "effort": "xhigh", "search_options": {"n": 3}},
     {"enable_search": True, "reasoning": {"effort": "xhigh"}, "search_options": {"n": 3}}),
])
def test_ant_ling_options_become_their_body_fields_only_when_given(given, fields):
    assert config.request_params(given) == fields


@pytest.mark.parametrize(("given", "flags", "message"), [
    ({"effort": "sk-medium-secret"}, False, "effort must be high or xhigh (the reasoning effort of Ring models)."),
    ({"effort": "low"}, True, "--effort must be high or xhigh (the reasoning effort of Ring models)."),
    ({"effort": ["high"]}, False, "effort must be high or xhigh"),
    ({"search": "yes"}, False, "search must be True or False"),
])
def test_bad_ant_ling_options_are_refused_without_quoting_them(given, flags, message):
    with pytest.raises(ConfigurationError) as caught:
        config.request_params(given, flags=flags)
    assert str(caught.value).startswith(message)
    assert "sk-medium" not in str(caught.value) and "low" not in str(caught.value)
