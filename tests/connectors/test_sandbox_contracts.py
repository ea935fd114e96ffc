"""A sandbox checks requests against our contract files, and without a readable contract it refuses to start:
it never falls back to accepting anything."""

import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from connectors.sandbox import SANDBOXES, ZohoSandbox
from connectors.sandbox.contracts import CONTRACTS_DIR, ContractError


@pytest.fixture
def contracts_copy(tmp_path):
    """A copy of our contracts a test may break."""
    shutil.copytree(CONTRACTS_DIR, tmp_path / "contracts", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return tmp_path / "contracts"


@pytest.mark.parametrize("partner", sorted(SANDBOXES))
def test_a_sandbox_without_its_contract_refuses_to_start(monkeypatch, tmp_path, partner):
    sandbox_class = SANDBOXES[partner]
    monkeypatch.setattr(sandbox_class, "contracts_dir", tmp_path)

    with pytest.raises(ContractError, match=f"the {partner} sandbox refuses to start without its contract"):
        sandbox_class()


def _unreadable(contracts):
    (contracts / "zoho" / "salesorder.create.json").write_text('{"type": "object",')


def _missing_file(contracts):
    (contracts / "zoho" / "inventoryadjustment.create.json").unlink()


def _invalid_schema(contracts):
    (contracts / "zoho" / "inventoryadjustment.create.json").write_text('{"type": 5}')


def _dangling_ref(contracts):
    (contracts / "zoho" / "salesorder.create-numbered.json").write_text('{"allOf": [{"$ref": "nowhere.json"}]}')


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_unreadable, "salesorder.create.json is not JSON"),
        (_missing_file, "'inventoryadjustment.create.json' in .*index.json leads nowhere"),
        (_invalid_schema, "inventoryadjustment.create.json is not a valid JSON Schema"),
        (_dangling_ref, "'nowhere.json' in .*salesorder.create-numbered.json leads nowhere"),
    ],
    ids=["not-json", "missing-file", "invalid-schema", "dangling-ref"],
)
def test_a_sandbox_with_a_broken_contract_refuses_to_start(monkeypatch, contracts_copy, damage, reason):
    damage(contracts_copy)
    monkeypatch.setattr(ZohoSandbox, "contracts_dir", contracts_copy)

    with pytest.raises(ContractError, match=reason):
        ZohoSandbox()


def test_run_sandbox_stops_with_the_reason_when_the_contract_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(ZohoSandbox, "contracts_dir", tmp_path)

    with pytest.raises(CommandError, match="the zoho sandbox refuses to start without its contract: cannot read"):
        call_command("run_sandbox", "zoho")


def test_manage_py_run_sandbox_exits_non_zero_without_a_contract(tmp_path):
    """The real process: ``manage.py run_sandbox`` prints the reason and exits 1 instead of serving."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "import django\n"
        "django.setup()\n"
        "from connectors.sandbox import ZohoSandbox\n"
        "ZohoSandbox.contracts_dir = Path(sys.argv[1])\n"
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(['manage.py', 'run_sandbox', 'zoho'])\n"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}

    finished = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 1
    assert "the zoho sandbox refuses to start without its contract" in finished.stderr
    assert "listening" not in finished.stdout
