"""Channel transport settings are validated on load; errors name the file, the channel and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import PROJECT_ROOT

from pipelines.core.channels import Channel, RetryPolicy, RulesError, load_channels

BASE: dict[str, Any] = {"id": "psp_x", "kind": "psp", "format": "adyen_sdr"}


def load_one(tmp_path: Path, raw: dict[str, Any]) -> Channel:
    (tmp_path / "channels").mkdir(exist_ok=True)
    (tmp_path / "channels" / "psp_x.yaml").write_text(yaml.safe_dump(raw))
    return load_channels(tmp_path)["psp_x"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"transport": "sftp", "location": "/out"}, "field 'sftp': an sftp channel needs an sftp block"),
        ({"transport": "sftp", "sftp": {"connection_id": "c"}}, "field 'sftp.folder'"),
        ({"transport": "s3", "location": "/not-s3"}, "field 's3.bucket': an s3 channel needs a bucket"),
        ({"location": "in", "s3": {"bucket": "recon-in"}}, "field 's3': only allowed with transport s3"),
        ({"transport": "local"}, "field 'location': a local channel needs its folder"),
        ({"location": "in", "completion": {"policy": "marker", "marker": "done"}}, "field 'completion.marker'"),
        ({"location": "in", "move_after_download": "../up"}, "field 'move_after_download'"),
        ({"location": "in", "retry": {"attempts": 0}}, "field 'retry.attempts'"),
        ({"transport": "sftp", "location": "/o", "sftp": {"connection_id": "bad id!"}}, "sftp.connection_id"),
    ],
)
def test_invalid_transport_settings(tmp_path: Path, raw: dict[str, Any], message: str) -> None:
    with pytest.raises(RulesError) as err:
        load_one(tmp_path, BASE | raw)
    assert message in str(err.value)
    assert "psp_x.yaml: channel psp_x" in str(err.value)


def test_defaults_and_derived_settings(tmp_path: Path) -> None:
    sftp = load_one(tmp_path, BASE | {"transport": "sftp", "location": "/out/adyen/", "sftp": {"connection_id": "a"}})
    assert sftp.remote_folder() == "/out/adyen"
    assert sftp.effective_stability().polls == 2  # files on SFTP may still be being written
    s3 = load_one(tmp_path, BASE | {"transport": "s3", "location": "s3://recon-in/stripe/payouts"})
    assert s3.s3_bucket_and_prefix() == ("recon-in", "stripe/payouts/")
    assert s3.s3 is not None and s3.s3.connection_id is None  # the standard AWS credential chain
    assert s3.effective_stability().polls == 1  # S3 objects appear complete
    explicit = load_one(tmp_path, BASE | {"transport": "s3", "s3": {"bucket": "recon-in", "prefix": "/a/b"}})
    assert explicit.s3_bucket_and_prefix() == ("recon-in", "a/b/")
    assert RetryPolicy(attempts=6, backoff_seconds=1, max_backoff_seconds=5).delays() == [1, 2, 4, 5, 5]


def test_the_shipped_channels_still_load() -> None:
    channels = load_channels(PROJECT_ROOT / "rules")
    assert {c.transport for c in channels.values()} == {"local"}
