"""Settings: defaults < signoff.toml < SIGNOFF_* < flags; validated before anything moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import load_settings


def test_defaults_need_no_config(tmp_path: Path) -> None:
    s = load_settings(env={}, cwd=tmp_path)
    assert s.inbox == tmp_path / "inbox" and s.archive == tmp_path / "archive"
    assert s.languages == ("eng", "swe", "chi_sim") and s.date_order == "DMY" and s.customers is None


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "signoff.toml"
    conf.parent.mkdir()
    conf.write_text('inbox = "in"\narchive = "/srv/arch"\nlanguages = ["eng"]\ndate_order = "MDY"\n')
    s = load_settings(conf, env={}, cwd=tmp_path)
    assert s.inbox == tmp_path / "etc" / "in"  # relative to the config file
    assert s.archive == Path("/srv/arch") and s.languages == ("eng",) and s.date_order == "MDY"
    s = load_settings(conf, env={"SIGNOFF_DATE_ORDER": "dmy", "SIGNOFF_LANGUAGES": "eng,swe"}, cwd=tmp_path)
    assert s.date_order == "DMY" and s.languages == ("eng", "swe")
    s = load_settings(conf, env={"SIGNOFF_DATE_ORDER": "DMY"}, cwd=tmp_path, date_order="MDY", inbox="x")
    assert s.date_order == "MDY" and s.inbox == tmp_path / "x"


def test_signoff_config_env_names_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "other.toml"
    conf.write_text('date_order = "MDY"\n')
    assert load_settings(env={"SIGNOFF_CONFIG": str(conf)}, cwd=tmp_path).date_order == "MDY"


@pytest.mark.parametrize(
    "content",
    ['date_order = "YMD"\n', 'languages = []\n', 'inbox = "x"\nbogus = 1\n', "not toml ==", 'customers = "nope.csv"\n', 'articles = "nope.csv"\n'],
)
def test_invalid_config_is_refused(tmp_path: Path, content: str) -> None:
    conf = tmp_path / "signoff.toml"
    conf.write_text(content)
    with pytest.raises(ConfigError):
        load_settings(env={}, cwd=tmp_path)


def test_the_celery_executor_needs_a_redis_broker(tmp_path: Path) -> None:
    s = load_settings(env={}, cwd=tmp_path)
    assert s.executor == "local" and s.broker is None and s.result_backend is None and s.worker_timeout == 15.0
    env = {"SIGNOFF_EXECUTOR": "Celery", "SIGNOFF_BROKER": "redis://:secret@queue.depot:6379/2", "SIGNOFF_WORKER_TIMEOUT": "30"}
    s = load_settings(env=env, cwd=tmp_path)
    assert (s.executor, s.broker, s.worker_timeout) == ("celery", "redis://:secret@queue.depot:6379/2", 30.0)
    with pytest.raises(ConfigError, match='executor = "celery" needs a broker'):
        load_settings(env={"SIGNOFF_EXECUTOR": "celery"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match='executor must be "local" or "celery"'):
        load_settings(env={"SIGNOFF_EXECUTOR": "dask"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"broker must be a Redis URL .* not 'amqp://guest:\*\*\*@rabbit//'"):
        load_settings(env={"SIGNOFF_EXECUTOR": "celery", "SIGNOFF_BROKER": "amqp://guest:guest@rabbit//"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="worker_timeout must be between 1 and 3600"):
        load_settings(env={"SIGNOFF_WORKER_TIMEOUT": "0"}, cwd=tmp_path)
    conf = tmp_path / "signoff.toml"
    conf.write_text('executor = "celery"\nbroker = "redis://localhost/0"\nresult_backend = "rediss://results:6380/1"\n')
    assert load_settings(env={}, cwd=tmp_path).result_backend == "rediss://results:6380/1"


def test_the_article_list_is_found_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "articles.csv").write_text("sku\nPT-5L\n", encoding="utf-8")
    (tmp_path / "signoff.toml").write_text('articles = "articles.csv"\n')
    assert load_settings(env={}, cwd=tmp_path).articles == (tmp_path / "articles.csv").resolve()
